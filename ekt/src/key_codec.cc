#include "mpswitch/ekt/key_codec.h"

#include <openssl/crypto.h>

#include <cstring>

namespace mpswitch::ekt {

void EncryptInTagEmk(const KeyWrapper& w, EktCipher cipher, const MasterKeyBytes& key,
                     std::span<uint8_t> emk) {
  if (cipher == EktCipher::kAes128Ecb) {
    w.EncryptBlock(key.data(), emk.data());
  } else {
    w.Wrap(key, emk);
  }
}

bool DecryptInTagEmk(const KeyWrapper& w, EktCipher cipher, std::span<const uint8_t> emk,
                     MasterKeyBytes& key) {
  if (emk.size() != InTagEmkLen(cipher)) return false;
  if (cipher == EktCipher::kAes128Ecb) {
    w.DecryptBlock(emk.data(), key.data());
    return true;
  }
  return w.Unwrap(emk, key);
}

void EncryptRfc8870(const KeyWrapper& w, const MasterKeyBytes& key, uint32_t ssrc, uint32_t roc,
                    std::span<uint8_t> ciphertext) {
  uint8_t plain[kRfc8870PlainLen];
  plain[0] = kSrtpKeyLen;
  std::memcpy(plain + 1, key.data(), kSrtpKeyLen);
  for (int i = 0; i < 4; ++i) {
    plain[17 + i] = static_cast<uint8_t>(ssrc >> (24 - 8 * i));
    plain[21 + i] = static_cast<uint8_t>(roc >> (24 - 8 * i));
  }
  w.WrapPad(plain, ciphertext);
  OPENSSL_cleanse(plain, sizeof(plain));
}

bool DecryptRfc8870(const KeyWrapper& w, std::span<const uint8_t> ciphertext, uint32_t ssrc,
                    MasterKeyBytes& key, uint32_t& roc) {
  uint8_t plain[kMaxWrapPlain];
  const size_t n = w.UnwrapPad(ciphertext, plain);
  bool ok = n == kRfc8870PlainLen && plain[0] == kSrtpKeyLen;
  if (ok) {
    const uint32_t got_ssrc = (uint32_t{plain[17]} << 24) | (uint32_t{plain[18]} << 16) |
                              (uint32_t{plain[19]} << 8) | plain[20];
    ok = got_ssrc == ssrc;
    roc = (uint32_t{plain[21]} << 24) | (uint32_t{plain[22]} << 16) | (uint32_t{plain[23]} << 8) |
          plain[24];
    std::memcpy(key.data(), plain + 1, kSrtpKeyLen);
  }
  OPENSSL_cleanse(plain, sizeof(plain));
  if (!ok) OPENSSL_cleanse(key.data(), key.size());
  return ok;
}

}  // namespace mpswitch::ekt
