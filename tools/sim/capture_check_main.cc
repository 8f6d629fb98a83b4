// mpswitch-capture-check CAPTURE.pcap KEYLOG: checks a run of mpswitch-sim from its capture and
// key log alone (see capture_check.h). Exit 0 when every SRTP datagram decrypted.
#include <cstdio>

#include "mpswitch/sim/capture_check.h"

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: %s CAPTURE.pcap KEYLOG\n", argv[0]);
    return 2;
  }
  absl::StatusOr<mpswitch::sim::CaptureReport> r = mpswitch::sim::CheckCapture(argv[1], argv[2]);
  if (!r.ok()) {
    std::fprintf(stderr, "%s\n", std::string(r.status().message()).c_str());
    return 2;
  }
  std::printf("%llu datagrams, %llu SRTP, %llu decrypted by libsrtp2 with the logged keys, %llu "
              "before their stream's first key announcement, %llu failed%s%s\n",
              static_cast<unsigned long long>(r->datagrams), static_cast<unsigned long long>(r->srtp),
              static_cast<unsigned long long>(r->decrypted),
              static_cast<unsigned long long>(r->awaiting_key),
              static_cast<unsigned long long>(r->failed), r->failed ? ": " : "",
              r->first_failure.c_str());
  return r->failed == 0 && r->decrypted > 0 ? 0 : 1;
}
