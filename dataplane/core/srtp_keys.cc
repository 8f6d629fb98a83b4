#include "mpswitch/dataplane/core/srtp_keys.h"

#include <openssl/evp.h>

#include <cstring>

#include "absl/status/status.h"

namespace mpswitch::dataplane {
namespace {

// Fetched once: an implicit fetch on every EVP init is a measurable cost in OpenSSL 3.
const EVP_CIPHER* Aes128Ctr() {
  static EVP_CIPHER* const cipher = EVP_CIPHER_fetch(nullptr, "AES-128-CTR", nullptr);
  return cipher;
}

}  // namespace

std::string_view ProfileName(SrtpProfile p) {
  switch (p) {
    case SrtpProfile::kAesCm128HmacSha1_80:
      return "AES_CM_128_HMAC_SHA1_80";
    case SrtpProfile::kAesCm128HmacSha1_32:
      return "AES_CM_128_HMAC_SHA1_32";
  }
  return "unknown";
}

absl::Status AesCmPrf(const MasterKey& master, uint8_t label, std::span<uint8_t> out) {
  // RFC 3711 §4.3.1 with kdr = 0: x = (label || r=0) XOR master_salt, where key_id = label || r is
  // 56 bits aligned to the low end of the 112-bit salt, so the label lands on salt byte 7.
  uint8_t iv[16] = {};
  std::memcpy(iv, master.salt.data(), kMasterSaltLen);
  iv[7] ^= label;
  const EVP_CIPHER* cipher = Aes128Ctr();
  if (cipher == nullptr) return absl::InternalError("OpenSSL has no AES-128-CTR (EVP_CIPHER_fetch)");
  EVP_CIPHER_CTX* ctx = EVP_CIPHER_CTX_new();
  if (ctx == nullptr) return absl::ResourceExhaustedError("EVP_CIPHER_CTX_new failed");
  std::memset(out.data(), 0, out.size());
  int n = 0;
  const bool ok = EVP_EncryptInit_ex2(ctx, cipher, master.key.data(), iv, nullptr) == 1 &&
                  EVP_EncryptUpdate(ctx, out.data(), &n, out.data(), static_cast<int>(out.size())) == 1;
  EVP_CIPHER_CTX_free(ctx);
  OPENSSL_cleanse(iv, sizeof(iv));
  if (!ok) return absl::InternalError("AES-CM key derivation failed in OpenSSL");
  return absl::OkStatus();
}

void AuthKeyDeriver::CtxFree::operator()(void* c) const {
  EVP_CIPHER_CTX_free(static_cast<EVP_CIPHER_CTX*>(c));
}

absl::StatusOr<AuthKeyDeriver> AuthKeyDeriver::Create() {
  AuthKeyDeriver d;
  d.ctx_.reset(EVP_CIPHER_CTX_new());
  if (!d.ctx_ || Aes128Ctr() == nullptr) {
    return absl::InternalError("cannot set up AES-128-CTR in OpenSSL for key derivation");
  }
  return d;
}

bool AuthKeyDeriver::Derive(const MasterKey& master, KeyUse use,
                            std::array<uint8_t, kSessionAuthKeyLen>& auth) {
  uint8_t iv[16] = {};
  std::memcpy(iv, master.salt.data(), kMasterSaltLen);
  iv[7] ^= use == KeyUse::kSrtp ? 1 : 4;
  auto* ctx = static_cast<EVP_CIPHER_CTX*>(ctx_.get());
  auth.fill(0);
  int n = 0;
  const bool ok = EVP_EncryptInit_ex2(ctx, Aes128Ctr(), master.key.data(), iv, nullptr) == 1 &&
                  EVP_EncryptUpdate(ctx, auth.data(), &n, auth.data(), kSessionAuthKeyLen) == 1;
  OPENSSL_cleanse(iv, sizeof(iv));
  // The context would keep the master key's AES schedule until the next key: overwrite it with
  // an all-zero key's (one key expansion, paid only when a key is learned).
  static constexpr uint8_t kZero[16] = {};
  if (EVP_EncryptInit_ex2(ctx, nullptr, kZero, kZero, nullptr) != 1) return false;
  return ok;
}

absl::StatusOr<SessionKeys> DeriveSessionKeys(const MasterKey& master, KeyUse use) {
  const uint8_t base = use == KeyUse::kSrtp ? 0 : 3;
  SessionKeys k;
  if (auto s = AesCmPrf(master, base + 0, k.cipher); !s.ok()) return s;
  if (auto s = AesCmPrf(master, base + 1, k.auth); !s.ok()) return s;
  if (auto s = AesCmPrf(master, base + 2, k.salt); !s.ok()) return s;
  return k;
}

}  // namespace mpswitch::dataplane
