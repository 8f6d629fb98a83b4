#include "mpswitch/dataplane/core/srtp_cipher.h"

#include <openssl/crypto.h>

#include <cstring>
#include <span>

#include "mpswitch/dataplane/core/packet.h"

namespace mpswitch::dataplane {

absl::StatusOr<SrtpCryptoContext> SrtpCryptoContext::FromKeys(const SessionKeys& keys,
                                                              size_t tag_len) {
  static EVP_CIPHER* const ctr = EVP_CIPHER_fetch(nullptr, "AES-128-CTR", nullptr);
  if (ctr == nullptr) return absl::InternalError("OpenSSL has no AES-128-CTR (EVP_CIPHER_fetch)");
  SrtpCryptoContext c;
  c.ctx_.reset(EVP_CIPHER_CTX_new());
  if (!c.ctx_ || EVP_EncryptInit_ex2(c.ctx_.get(), ctr, keys.cipher.data(), nullptr, nullptr) != 1) {
    return absl::InternalError("cannot key AES-128-CTR in OpenSSL");
  }
  c.mac_ = HmacSha1Key::FromKey(keys.auth);
  std::memcpy(c.salt_, keys.salt.data(), kMasterSaltLen);
  c.tag_len_ = tag_len;
  return c;
}

absl::StatusOr<SrtpCryptoContext> SrtpCryptoContext::Create(const MasterKey& master,
                                                            SrtpProfile profile) {
  auto keys = DeriveSessionKeys(master, KeyUse::kSrtp);
  if (!keys.ok()) return keys.status();
  auto c = FromKeys(*keys, SrtpTagLen(profile));
  OPENSSL_cleanse(&*keys, sizeof(*keys));
  return c;
}

absl::StatusOr<SrtpCryptoContext> SrtpCryptoContext::CreateRtcp(const MasterKey& master) {
  auto keys = DeriveSessionKeys(master, KeyUse::kSrtcp);
  if (!keys.ok()) return keys.status();
  auto c = FromKeys(*keys, kSrtcpTagLen);
  OPENSSL_cleanse(&*keys, sizeof(*keys));
  return c;
}

bool SrtpCryptoContext::CryptRtcp(uint8_t* data, size_t len, uint32_t index) {
  if (len < kRtcpHeader) return false;
  return CryptIv(data, kRtcpHeader, len, LoadBe32(data + 4), index & 0x7FFFFFFF);
}

void SrtpCryptoContext::RtcpTag(const uint8_t* data, size_t len, uint8_t tag[10]) const {
  uint8_t mac[20];
  HmacSha1(mac_, {data, len}, mac);
  std::memcpy(tag, mac, 10);
}

bool SrtpCryptoContext::CryptIv(uint8_t* data, size_t from, size_t end, uint32_t ssrc,
                                uint64_t index) {
  // RFC 3711 §4.1.1: IV = (k_s * 2^16) XOR (SSRC * 2^64) XOR (i * 2^16).
  uint8_t iv[16] = {};
  std::memcpy(iv, salt_, kMasterSaltLen);
  for (int b = 0; b < 4; ++b) iv[4 + b] ^= static_cast<uint8_t>(ssrc >> (24 - 8 * b));
  for (int b = 0; b < 6; ++b) iv[8 + b] ^= static_cast<uint8_t>(index >> (8 * (5 - b)));
  int n = 0;
  return EVP_EncryptInit_ex2(ctx_.get(), nullptr, nullptr, iv, nullptr) == 1 &&
         EVP_EncryptUpdate(ctx_.get(), data + from, &n, data + from, static_cast<int>(end - from)) == 1;
}

bool SrtpCryptoContext::Crypt(uint8_t* data, size_t len, uint32_t roc) {
  RtpView v;
  return ParseRtp({data, len}, 0, v) == Drop::kNone && CryptRange(data, v.header_len, len, roc);
}

bool SrtpCryptoContext::CryptRange(uint8_t* data, size_t header_len, size_t end, uint32_t roc) {
  const uint64_t index = (uint64_t{roc} << 16) | LoadBe16(data + 2);
  return CryptIv(data, header_len, end, LoadBe32(data + 8), index);
}

size_t SrtpCryptoContext::Protect(uint8_t* data, size_t len, size_t capacity, uint32_t roc) {
  RtpView v;
  if (ParseRtp({data, len}, 0, v) != Drop::kNone || len + tag_len_ > capacity) return 0;
  if (!CryptRange(data, v.header_len, len, roc)) return 0;
  uint8_t roc_be[4];
  StoreBe32(roc_be, roc);
  // HMAC over packet || ROC without staging: write the ROC where the tag will go.
  std::memcpy(data + len, roc_be, 4);
  uint8_t mac[20];
  HmacSha1(mac_, {data, len + 4}, mac);
  std::memcpy(data + len, mac, tag_len_);
  return len + tag_len_;
}

size_t SrtpCryptoContext::Unprotect(uint8_t* data, size_t len, uint32_t roc) {
  RtpView v;
  if (ParseRtp({data, len}, tag_len_, v) != Drop::kNone) return 0;
  const size_t end = len - tag_len_;
  uint8_t tag[10];
  std::memcpy(tag, data + end, tag_len_);
  StoreBe32(data + end, roc);
  uint8_t mac[20];
  HmacSha1(mac_, {data, end + 4}, mac);
  std::memcpy(data + end, tag, tag_len_);
  if (CRYPTO_memcmp(mac, tag, tag_len_) != 0) return 0;
  if (!CryptRange(data, v.header_len, end, roc)) return 0;
  return end;
}

}  // namespace mpswitch::dataplane
