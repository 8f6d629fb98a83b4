// Checks a run from its capture and key log alone (PROTOCOLS.md §11), the way anyone holding the
// two files could: every SRTP datagram in the pcap (rooms to switch and switch to rooms) is
// unwrapped with the EKT group key from the log, and libsrtp2 must decrypt it with one of the
// sender keys the log lists for its SSRC.
#pragma once

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"

namespace mpswitch::sim {

struct CaptureReport {
  uint64_t datagrams = 0;      // UDP datagrams in the capture
  uint64_t srtp = 0;           // of them RTP/RTCP by their first byte (RFC 7983)
  uint64_t decrypted = 0;      // decrypted by libsrtp2 with a logged key
  uint64_t awaiting_key = 0;   // short forms of a flow before its first announcement
  uint64_t failed = 0;
  std::string first_failure;
};

// NotFound / InvalidArgument when a file is missing or not what it should be (a pcap of
// LINKTYPE_RAW IPv4, a key log with an EKT line).
absl::StatusOr<CaptureReport> CheckCapture(const std::string& pcap_path,
                                           const std::string& keylog_path);

}  // namespace mpswitch::sim
