// libFuzzer target for the bounds-checked RTP/RTCP views and RFC 7983 demultiplexing, with every
// trailer length the switch uses.
#include <cstddef>
#include <cstdint>
#include <span>

#include "mpswitch/dataplane/core/packet.h"

using namespace mpswitch::dataplane;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::span<const uint8_t> p(data, size);
  (void)Demultiplex(p);
  for (size_t trailer : {0, 4, 10, 11, 14, 34}) {
    RtpView v;
    if (ParseRtp(p, trailer, v) == Drop::kNone && v.header_len + trailer > size) __builtin_trap();
    RtcpView c;
    if (ParseRtcp(p, trailer, c) == Drop::kNone && c.first_len + trailer > size) __builtin_trap();
  }
  return 0;
}
