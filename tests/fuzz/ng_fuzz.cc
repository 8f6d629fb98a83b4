// rtpengine's ng replies and SDP bodies as the load benchmark reads them (bench/load/rtpengine.h):
// whatever arrives on the control socket must give a value or an error, never a crash or a hang.
#include <cstddef>
#include <cstdint>

#include "rtpengine.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const absl::string_view in(reinterpret_cast<const char*>(data), size);
  absl::StatusOr<mpswitch::bench::Bencode> v = mpswitch::bench::BencodeDecode(in);
  if (v.ok()) {
    // What decodes must encode again.
    (void)v->Encode();
  }
  (void)mpswitch::bench::ParseSdp(in);
  return 0;
}
