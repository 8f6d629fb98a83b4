// Scalar HMAC-SHA1 from precomputed states. OpenSSL's low-level SHA1_* API is deprecated in 3.0
// but is the only one that lets us resume from a saved chaining value without allocating; its
// block function uses SHA-NI when the CPU has it.
#define OPENSSL_SUPPRESS_DEPRECATED 1
#include "mpswitch/dataplane/core/hmac_sha1.h"

#include <openssl/crypto.h>
#include <openssl/sha.h>

#include <cstdlib>
#include <cstring>
#include <string_view>

namespace mpswitch::dataplane {
namespace {

std::array<uint32_t, 5> ChainAfterBlock(const uint8_t block[64]) {
  SHA_CTX c;
  SHA1_Init(&c);
  SHA1_Update(&c, block, 64);
  std::array<uint32_t, 5> h = {c.h0, c.h1, c.h2, c.h3, c.h4};
  OPENSSL_cleanse(&c, sizeof(c));
  return h;
}

// A SHA_CTX positioned just after one 64-byte block whose chaining value is `h`.
void ResumeAfterBlock(SHA_CTX& c, const std::array<uint32_t, 5>& h) {
  std::memset(&c, 0, sizeof(c));
  c.h0 = h[0];
  c.h1 = h[1];
  c.h2 = h[2];
  c.h3 = h[3];
  c.h4 = h[4];
  c.Nl = 512;  // bits already hashed
}

class ScalarMacKernel final : public MacKernel {
 public:
  std::string_view Name() const override { return "scalar-openssl"; }
  void Submit(const MacJob& j) override {
    uint8_t full[20];
    HmacSha1(*j.key, {j.data, j.len}, full);
    std::memcpy(j.out, full, kMacOutLen);
  }
  void Flush() override {}
};

}  // namespace

HmacSha1Key HmacSha1Key::FromKey(std::span<const uint8_t> key) {
  uint8_t k[64] = {};
  if (key.size() > 64) {
    SHA1(key.data(), key.size(), k);
  } else {
    std::memcpy(k, key.data(), key.size());
  }
  uint8_t pad[64];
  HmacSha1Key out;
  for (int i = 0; i < 64; ++i) pad[i] = k[i] ^ 0x36;
  out.inner = ChainAfterBlock(pad);
  for (int i = 0; i < 64; ++i) pad[i] = k[i] ^ 0x5c;
  out.outer = ChainAfterBlock(pad);
  OPENSSL_cleanse(k, sizeof(k));
  OPENSSL_cleanse(pad, sizeof(pad));
  return out;
}

void HmacSha1(const HmacSha1Key& key, std::span<const uint8_t> data, uint8_t out[20]) {
  SHA_CTX c;
  ResumeAfterBlock(c, key.inner);
  SHA1_Update(&c, data.data(), data.size());
  uint8_t inner[20];
  SHA1_Final(inner, &c);
  ResumeAfterBlock(c, key.outer);
  SHA1_Update(&c, inner, sizeof(inner));
  SHA1_Final(out, &c);
}

std::unique_ptr<MacKernel> MakeScalarMacKernel() { return std::make_unique<ScalarMacKernel>(); }

std::unique_ptr<MacKernel> MakeBestMacKernel() {
  const char* env = std::getenv("MPSWITCH_MAC_KERNEL");
  const std::string_view choice = env ? env : "";
  if (choice == "scalar") return MakeScalarMacKernel();
  if (auto mb = MakeMultiBufferMacKernel()) return mb;
  return MakeScalarMacKernel();
}

}  // namespace mpswitch::dataplane
