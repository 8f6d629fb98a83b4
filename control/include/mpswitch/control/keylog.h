// The opt-in debug key log (PROTOCOLS.md §11), like SSLKEYLOGFILE: every key the process
// installs, appended one event per line so captures can be decrypted independently. Off unless
// `--keylog FILE` or MPSWITCH_KEYLOG names a file; opening it prints a loud warning, because
// anyone who can read the file can decrypt the meetings.
#pragma once

#include <cstdint>
#include <cstdio>
#include <memory>
#include <mutex>
#include <string>

#include "absl/status/statusor.h"
#include "mpswitch/dataplane/core/srtp_keys.h"
#include "mpswitch/ekt/ekt.h"

namespace mpswitch::control {

class Keylog {
 public:
  // `path` from the command line; empty falls back to MPSWITCH_KEYLOG. Returns nullptr when both
  // are empty (the normal case), an error when the file cannot be opened for appending.
  static absl::StatusOr<std::unique_ptr<Keylog>> Open(const std::string& path);
  ~Keylog();

  // SRTP <ssrc 8 hex> <master key hex> <master salt hex> <profile>
  void Srtp(uint32_t ssrc, const dataplane::MasterKey& key, dataplane::SrtpProfile profile);
  // SRTCP <ssrc 8 hex> <master key hex> <master salt hex> <profile>
  void Srtcp(uint32_t ssrc, const dataplane::MasterKey& key, dataplane::SrtpProfile profile);
  // EKT <spi decimal> <kek hex> <master salt hex> <ekt cipher> <format>
  void Ekt(const ekt::GroupParams& group);

  const std::string& path() const { return path_; }

 private:
  Keylog(std::FILE* f, std::string path) : f_(f), path_(std::move(path)) {}
  void Line(const std::string& line);

  std::mutex mu_;
  std::FILE* f_;
  std::string path_;
};

}  // namespace mpswitch::control
