#include "mpswitch/control/keylog.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

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
  // Created readable by its owner only; an existing file is narrowed to that too, so keys are
  // never appended to a file others can read.
  const int fd = ::open(p.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) {
    return absl::PermissionDeniedError(absl::StrFormat(
        "cannot open key log %s for appending: %s", p, std::strerror(errno)));
  }
  if (::fchmod(fd, 0600) != 0) {
    const int err = errno;
    ::close(fd);
    return absl::PermissionDeniedError(absl::StrFormat(
        "cannot restrict key log %s to its owner (mode 0600): %s", p, std::strerror(err)));
  }
  std::FILE* f = ::fdopen(fd, "a");
  if (f == nullptr) {
    const int err = errno;
    ::close(fd);
    return absl::InternalError(absl::StrFormat("cannot open key log %s: %s", p, std::strerror(err)));
  }
  std::fprintf(stderr,
               "WARNING: KEY LOG ENABLED. Every media key this process installs is appended in "
               "clear to %s (mode 0600, owner only).\nWARNING: anyone who can read that file can "
               "decrypt these meetings. Debug use only; never in production.\n",
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
