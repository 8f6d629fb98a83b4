// AES key wrap (RFC 3394) and key wrap with padding (RFC 5649) over OpenSSL EVP AES block
// operations, plus the single-block AES-128-ECB the in-tag EKT format uses.
//
// A KeyWrapper is keyed once (two EVP contexts, encrypt and decrypt, AES-ECB without padding) and
// then wraps and unwraps without allocating, so a worker can try an unwrap for every packet that
// carries an unfamiliar encrypted key. Not thread-safe: one per thread.
#pragma once

#include <openssl/evp.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>

#include "absl/status/statusor.h"

namespace mpswitch::ekt {

// Largest key a wrapper handles here (a 256-bit SRTP master key plus RFC 8870 framing).
inline constexpr size_t kMaxWrapPlain = 64;

class KeyWrapper {
 public:
  // `kek` is 16, 24 or 32 bytes (AES-128/192/256).
  static absl::StatusOr<KeyWrapper> Create(std::span<const uint8_t> kek);
  KeyWrapper(KeyWrapper&&) = default;
  KeyWrapper& operator=(KeyWrapper&&) = default;

  // RFC 3394 §2.2.1: `plain` is a multiple of 8 bytes, 16..kMaxWrapPlain; `out` receives
  // plain.size() + 8 bytes. Returns false on a size error.
  bool Wrap(std::span<const uint8_t> plain, std::span<uint8_t> out) const;
  // RFC 3394 §2.2.2 with the default IV check; `out` receives wrapped.size() - 8 bytes. False if
  // the integrity check fails or sizes are wrong; `out` is then zeroed.
  bool Unwrap(std::span<const uint8_t> wrapped, std::span<uint8_t> out) const;

  // RFC 5649: any plaintext length 1..kMaxWrapPlain. Returns the wrapped length (a multiple of 8,
  // at least 16) or 0 on a size error.
  size_t WrapPad(std::span<const uint8_t> plain, std::span<uint8_t> out) const;
  // Returns the plaintext length, or 0 if the integrity check (AIV, length, zero padding) fails.
  size_t UnwrapPad(std::span<const uint8_t> wrapped, std::span<uint8_t> out) const;

  // One AES block in ECB mode (the in-tag EKT "AES-128-ECB" EMK).
  void EncryptBlock(const uint8_t in[16], uint8_t out[16]) const;
  void DecryptBlock(const uint8_t in[16], uint8_t out[16]) const;

 private:
  struct CtxFree {
    void operator()(EVP_CIPHER_CTX* c) const { EVP_CIPHER_CTX_free(c); }
  };
  KeyWrapper() = default;
  // W and W^-1 of RFC 3394 over n 64-bit blocks with initial value `a`.
  void WrapCore(uint64_t a, std::span<const uint8_t> p, std::span<uint8_t> out) const;
  uint64_t UnwrapCore(std::span<const uint8_t> c, std::span<uint8_t> out) const;

  std::unique_ptr<EVP_CIPHER_CTX, CtxFree> enc_;
  std::unique_ptr<EVP_CIPHER_CTX, CtxFree> dec_;
};

}  // namespace mpswitch::ekt
