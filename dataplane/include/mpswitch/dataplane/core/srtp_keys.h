// SRTP master keys and RFC 3711 §4.3 key derivation.
//
// libsrtp2 does not export its KDF, and the switch needs the session authentication keys without
// ever holding a session cipher context, so the derivation lives here. AES-CM PRF over OpenSSL EVP
// with the cipher fetched once per process.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <span>
#include <string_view>

#include "absl/status/statusor.h"

namespace mpswitch::dataplane {

inline constexpr size_t kMasterKeyLen = 16;   // AES-128
inline constexpr size_t kMasterSaltLen = 14;  // 112 bits
inline constexpr size_t kSessionAuthKeyLen = 20;

enum class SrtpProfile : uint8_t {
  kAesCm128HmacSha1_80,
  kAesCm128HmacSha1_32,
};

// Bytes of the SRTP authentication tag for `profile`. SRTCP tags are always 10 bytes (RFC 3711
// §4.2 / RFC 4568: the _32 suites shorten only the SRTP tag).
constexpr size_t SrtpTagLen(SrtpProfile p) {
  return p == SrtpProfile::kAesCm128HmacSha1_32 ? 4 : 10;
}
inline constexpr size_t kSrtcpTagLen = 10;

std::string_view ProfileName(SrtpProfile p);

struct MasterKey {
  std::array<uint8_t, kMasterKeyLen> key{};
  std::array<uint8_t, kMasterSaltLen> salt{};
};

// Session keys for one direction of one SSRC (RFC 3711 §4.3.1 labels 0-2 for SRTP, 3-5 for
// SRTCP). The switch only ever uses `auth`; `cipher` and `salt` exist for the conventional
// re-encryption path and for tests.
struct SessionKeys {
  std::array<uint8_t, 16> cipher{};
  std::array<uint8_t, kSessionAuthKeyLen> auth{};
  std::array<uint8_t, kMasterSaltLen> salt{};
};

enum class KeyUse : uint8_t { kSrtp, kSrtcp };

// Derives the session keys with key_derivation_rate 0. Fails only if OpenSSL fails.
absl::StatusOr<SessionKeys> DeriveSessionKeys(const MasterKey& master, KeyUse use);

// Derives session authentication keys with one pre-allocated OpenSSL context: no allocation per
// call, so a worker can derive the key an EKT field announces while processing the packet. Not
// thread-safe: one per worker.
class AuthKeyDeriver {
 public:
  static absl::StatusOr<AuthKeyDeriver> Create();
  AuthKeyDeriver(AuthKeyDeriver&&) = default;
  AuthKeyDeriver& operator=(AuthKeyDeriver&&) = default;
  // The session auth key (label 1 for SRTP, 4 for SRTCP) into `auth`. False if OpenSSL fails.
  bool Derive(const MasterKey& master, KeyUse use, std::array<uint8_t, kSessionAuthKeyLen>& auth);

 private:
  struct CtxFree {
    void operator()(void* c) const;
  };
  AuthKeyDeriver() = default;
  std::unique_ptr<void, CtxFree> ctx_;  // EVP_CIPHER_CTX, kept out of this header
};

// The AES-CM PRF itself: `out.size()` bytes of keystream for `label` (exposed for the RFC 3711
// appendix B.3 vectors).
absl::Status AesCmPrf(const MasterKey& master, uint8_t label, std::span<uint8_t> out);

}  // namespace mpswitch::dataplane
