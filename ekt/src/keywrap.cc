#include "mpswitch/ekt/keywrap.h"

#include <openssl/crypto.h>

#include <cstring>

#include "absl/status/status.h"

namespace mpswitch::ekt {
namespace {

constexpr uint64_t kDefaultIv = 0xA6A6A6A6A6A6A6A6ull;  // RFC 3394 §2.2.3.1
constexpr uint32_t kPadIvPrefix = 0xA65959A6u;          // RFC 5649 §3

uint64_t Load64(const uint8_t* p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = (v << 8) | p[i];
  return v;
}
void Store64(uint8_t* p, uint64_t v) {
  for (int i = 7; i >= 0; --i, v >>= 8) p[i] = static_cast<uint8_t>(v);
}

const EVP_CIPHER* Ecb(size_t key_len) {
  static EVP_CIPHER* const e128 = EVP_CIPHER_fetch(nullptr, "AES-128-ECB", nullptr);
  static EVP_CIPHER* const e192 = EVP_CIPHER_fetch(nullptr, "AES-192-ECB", nullptr);
  static EVP_CIPHER* const e256 = EVP_CIPHER_fetch(nullptr, "AES-256-ECB", nullptr);
  return key_len == 16 ? e128 : key_len == 24 ? e192 : key_len == 32 ? e256 : nullptr;
}

}  // namespace

absl::StatusOr<KeyWrapper> KeyWrapper::Create(std::span<const uint8_t> kek) {
  const EVP_CIPHER* cipher = Ecb(kek.size());
  if (cipher == nullptr) {
    return absl::InvalidArgumentError(
        "key encrypting key must be 16, 24 or 32 bytes (AES-128, -192 or -256)");
  }
  KeyWrapper w;
  w.enc_.reset(EVP_CIPHER_CTX_new());
  w.dec_.reset(EVP_CIPHER_CTX_new());
  if (!w.enc_ || !w.dec_ ||
      EVP_EncryptInit_ex2(w.enc_.get(), cipher, kek.data(), nullptr, nullptr) != 1 ||
      EVP_DecryptInit_ex2(w.dec_.get(), cipher, kek.data(), nullptr, nullptr) != 1 ||
      EVP_CIPHER_CTX_set_padding(w.enc_.get(), 0) != 1 ||
      EVP_CIPHER_CTX_set_padding(w.dec_.get(), 0) != 1) {
    return absl::InternalError("cannot key AES-ECB in OpenSSL for key wrap");
  }
  return w;
}

void KeyWrapper::EncryptBlock(const uint8_t in[16], uint8_t out[16]) const {
  int n = 0;
  EVP_EncryptUpdate(enc_.get(), out, &n, in, 16);
}

void KeyWrapper::DecryptBlock(const uint8_t in[16], uint8_t out[16]) const {
  int n = 0;
  EVP_DecryptUpdate(dec_.get(), out, &n, in, 16);
}

void KeyWrapper::WrapCore(uint64_t a, std::span<const uint8_t> p, std::span<uint8_t> out) const {
  const size_t n = p.size() / 8;
  uint8_t* r = out.data() + 8;
  std::memmove(r, p.data(), p.size());
  uint8_t b[16];
  for (uint64_t j = 0; j <= 5; ++j) {
    for (size_t i = 0; i < n; ++i) {
      Store64(b, a);
      std::memcpy(b + 8, r + 8 * i, 8);
      EncryptBlock(b, b);
      a = Load64(b) ^ (n * j + i + 1);
      std::memcpy(r + 8 * i, b + 8, 8);
    }
  }
  Store64(out.data(), a);
  OPENSSL_cleanse(b, sizeof(b));
}

uint64_t KeyWrapper::UnwrapCore(std::span<const uint8_t> c, std::span<uint8_t> out) const {
  const size_t n = c.size() / 8 - 1;
  uint64_t a = Load64(c.data());
  uint8_t* r = out.data();
  std::memmove(r, c.data() + 8, 8 * n);
  uint8_t b[16];
  for (int64_t j = 5; j >= 0; --j) {
    for (size_t i = n; i-- > 0;) {
      Store64(b, a ^ (n * static_cast<uint64_t>(j) + i + 1));
      std::memcpy(b + 8, r + 8 * i, 8);
      DecryptBlock(b, b);
      a = Load64(b);
      std::memcpy(r + 8 * i, b + 8, 8);
    }
  }
  OPENSSL_cleanse(b, sizeof(b));
  return a;
}

bool KeyWrapper::Wrap(std::span<const uint8_t> plain, std::span<uint8_t> out) const {
  if (plain.size() < 16 || plain.size() % 8 || plain.size() > kMaxWrapPlain ||
      out.size() < plain.size() + 8) {
    return false;
  }
  WrapCore(kDefaultIv, plain, out);
  return true;
}

bool KeyWrapper::Unwrap(std::span<const uint8_t> wrapped, std::span<uint8_t> out) const {
  if (wrapped.size() < 24 || wrapped.size() % 8 || wrapped.size() > kMaxWrapPlain + 8 ||
      out.size() < wrapped.size() - 8) {
    return false;
  }
  const uint64_t a = UnwrapCore(wrapped, out);
  const bool ok = CRYPTO_memcmp(&a, &kDefaultIv, 8) == 0;
  if (!ok) OPENSSL_cleanse(out.data(), wrapped.size() - 8);
  return ok;
}

size_t KeyWrapper::WrapPad(std::span<const uint8_t> plain, std::span<uint8_t> out) const {
  if (plain.empty() || plain.size() > kMaxWrapPlain) return 0;
  const size_t padded = (plain.size() + 7) / 8 * 8;
  if (out.size() < padded + 8) return 0;
  const uint64_t aiv = (uint64_t{kPadIvPrefix} << 32) | plain.size();
  uint8_t p[kMaxWrapPlain] = {};
  std::memcpy(p, plain.data(), plain.size());
  if (padded == 8) {
    // RFC 5649 §4.1: a single block is encrypted once, AIV || P.
    uint8_t b[16];
    Store64(b, aiv);
    std::memcpy(b + 8, p, 8);
    EncryptBlock(b, out.data());
    OPENSSL_cleanse(b, sizeof(b));
  } else {
    WrapCore(aiv, {p, padded}, out);
  }
  OPENSSL_cleanse(p, sizeof(p));
  return padded + 8;
}

size_t KeyWrapper::UnwrapPad(std::span<const uint8_t> wrapped, std::span<uint8_t> out) const {
  if (wrapped.size() < 16 || wrapped.size() % 8 || wrapped.size() > kMaxWrapPlain + 8) return 0;
  const size_t padded = wrapped.size() - 8;
  if (out.size() < padded) return 0;
  uint64_t aiv;
  if (padded == 8) {
    uint8_t b[16];
    DecryptBlock(wrapped.data(), b);
    aiv = Load64(b);
    std::memcpy(out.data(), b + 8, 8);
    OPENSSL_cleanse(b, sizeof(b));
  } else {
    aiv = UnwrapCore(wrapped, out);
  }
  // Check everything without early exit on secret-dependent values.
  const uint32_t prefix = static_cast<uint32_t>(aiv >> 32);
  const size_t mli = static_cast<uint32_t>(aiv);
  bool ok = prefix == kPadIvPrefix && mli > padded - 8 && mli <= padded;
  uint8_t pad_or = 0;
  if (ok) {
    for (size_t i = mli; i < padded; ++i) pad_or |= out[i];
  }
  ok = ok && pad_or == 0;
  if (!ok) {
    OPENSSL_cleanse(out.data(), padded);
    return 0;
  }
  return mli;
}

}  // namespace mpswitch::ekt
