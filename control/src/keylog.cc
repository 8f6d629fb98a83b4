#include "mpswitch/control/keylog.h"

#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "absl/strings/str_format.h"

namespace mpswitch::control {
namespace {

template <typename Bytes>
std::string Hex(const Bytes& b) {
  std::string s;
  for (uint8_t x : b) s += absl::StrFormat("%02x", x);
  return s;
}

}  // namespace

absl::StatusOr<std::unique_ptr<Keylog>> Keylog::Open(const std::string& path) {
  std::string p = path;
  if (p.empty()) {
    const char* env = std::getenv("MPSWITCH_KEYLOG");
    if (env != nullptr) p = env;
  }
  if (p.empty()) return std::unique_ptr<Keylog>();
  std::FILE* f = std::fopen(p.c_str(), "a");
  if (f == nullptr) {
    return absl::PermissionDeniedError(absl::StrFormat(
        "cannot open key log %s for appending: %s", p, std::strerror(errno)));
  }
  std::fprintf(stderr,
               "WARNING: KEY LOG ENABLED. Every media key this process installs is appended in "
               "clear to %s.\nWARNING: anyone who can read that file can decrypt these meetings. "
               "Debug use only; never in production.\n",
               p.c_str());
  return std::unique_ptr<Keylog>(new Keylog(f, p));
}

Keylog::~Keylog() {
  if (f_) std::fclose(f_);
}

void Keylog::Line(const std::string& line) {
  std::lock_guard<std::mutex> lock(mu_);
  std::fputs(line.c_str(), f_);
  std::fputc('\n', f_);
  std::fflush(f_);
}

void Keylog::Srtp(uint32_t ssrc, const dataplane::MasterKey& key, dataplane::SrtpProfile profile) {
  Line(absl::StrFormat("SRTP %08x %s %s %s", ssrc, Hex(key.key), Hex(key.salt),
                       dataplane::ProfileName(profile)));
}

void Keylog::Srtcp(uint32_t ssrc, const dataplane::MasterKey& key, dataplane::SrtpProfile profile) {
  Line(absl::StrFormat("SRTCP %08x %s %s %s", ssrc, Hex(key.key), Hex(key.salt),
                       dataplane::ProfileName(profile)));
}

void Keylog::Ekt(const ekt::GroupParams& g) {
  Line(absl::StrFormat("EKT %d %s %s %s %s", g.spi, Hex(g.kek), Hex(g.salt),
                       ekt::EktCipherName(g.cipher), ekt::EktFormatName(g.format)));
}

}  // namespace mpswitch::control
