#include "mpswitch/dataplane/core/hmac_sha1.h"

#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "../../support/hex.h"

#if defined(MPSWITCH_HAVE_IPSEC_MB)
#include <intel-ipsec-mb.h>
#endif

namespace mpswitch::dataplane {
namespace {

using testing::FromHex;
using testing::ToHex;

std::string Mac(const std::vector<uint8_t>& key, const std::vector<uint8_t>& data) {
  uint8_t out[20];
  HmacSha1(HmacSha1Key::FromKey(key), data, out);
  return ToHex(std::vector<uint8_t>(out, out + 20));
}

// RFC 2202 §3 test cases 1, 2, 3, 6 (key longer than a block).
TEST(HmacSha1Test, Rfc2202) {
  EXPECT_EQ(Mac(std::vector<uint8_t>(20, 0x0b), {'H', 'i', ' ', 'T', 'h', 'e', 'r', 'e'}),
            "b617318655057264e28bc0b6fb378c8ef146be00");
  const std::string jefe = "what do ya want for nothing?";
  EXPECT_EQ(Mac({'J', 'e', 'f', 'e'}, std::vector<uint8_t>(jefe.begin(), jefe.end())),
            "effcdf6ae5eb2fa2d27416d5f184df9c259a7c79");
  EXPECT_EQ(Mac(std::vector<uint8_t>(20, 0xaa), std::vector<uint8_t>(50, 0xdd)),
            "125d7342b9ac11cd91a39af48aa17b4f63f175d3");
  const std::string big = "Test Using Larger Than Block-Size Key - Hash Key First";
  EXPECT_EQ(Mac(std::vector<uint8_t>(80, 0xaa), std::vector<uint8_t>(big.begin(), big.end())),
            "aa4ae5e15272d00e95705637ce8a3b55ed402112");
}

// Both kernels against OpenSSL's one-shot HMAC (not our code) on random keys, lengths and data.
void CheckKernelAgainstOpenssl(MacKernel& kernel) {
  std::mt19937_64 rng(7);
  constexpr int kJobs = 300;
  std::vector<std::vector<uint8_t>> data(kJobs);
  std::vector<HmacSha1Key> keys(kJobs);
  std::vector<std::vector<uint8_t>> raw_keys(kJobs);
  std::vector<std::array<uint8_t, kMacOutLen>> outs(kJobs);
  std::vector<MacJob> jobs;
  for (int i = 0; i < kJobs; ++i) {
    // Every length 0..140 (block boundaries, padding edge cases), then typical media sizes.
    const size_t len = i <= 140 ? static_cast<size_t>(i) : 100 + rng() % 1400;
    data[i].resize(len);
    for (auto& b : data[i]) b = static_cast<uint8_t>(rng());
    raw_keys[i].resize(20);
    for (auto& b : raw_keys[i]) b = static_cast<uint8_t>(rng());
    keys[i] = HmacSha1Key::FromKey(raw_keys[i]);
    jobs.push_back({data[i].data(), static_cast<uint32_t>(len), &keys[i], outs[i].data()});
  }
  kernel.Compute(jobs);
  for (int i = 0; i < kJobs; ++i) {
    uint8_t ref[20];
    unsigned ref_len = 0;
    HMAC(EVP_sha1(), raw_keys[i].data(), 20, data[i].data(), data[i].size(), ref, &ref_len);
    ASSERT_EQ(std::memcmp(outs[i].data(), ref, kMacOutLen), 0)
        << kernel.Name() << " job " << i << " len " << data[i].size();
  }
}

TEST(MacKernelTest, ScalarMatchesOpenSslHmac) {
  auto k = MakeScalarMacKernel();
  CheckKernelAgainstOpenssl(*k);
}

TEST(MacKernelTest, MultiBufferMatchesOpenSslHmac) {
  auto k = MakeMultiBufferMacKernel();
#if defined(MPSWITCH_HAVE_IPSEC_MB)
  ASSERT_NE(k, nullptr) << "intel-ipsec-mb is built in but found no usable architecture";
  CheckKernelAgainstOpenssl(*k);
  // Batches smaller than the lane count and a single job go through flush alone.
  std::vector<uint8_t> d(64, 1);
  auto key = HmacSha1Key::FromKey(d);
  uint8_t a[kMacOutLen], b[kMacOutLen];
  MacJob one{d.data(), 64, &key, a};
  k->Compute({&one, 1});
  auto s = MakeScalarMacKernel();
  MacJob two{d.data(), 64, &key, b};
  s->Compute({&two, 1});
  EXPECT_EQ(std::memcmp(a, b, kMacOutLen), 0);
#else
  EXPECT_EQ(k, nullptr);
  GTEST_SKIP() << "built without intel-ipsec-mb";
#endif
}

TEST(MacKernelTest, ScalarAndMultiBufferIdenticalOnRandomBursts) {
  auto mb = MakeMultiBufferMacKernel();
  if (!mb) GTEST_SKIP() << "no multi-buffer kernel on this build/CPU";
  auto scalar = MakeScalarMacKernel();
  std::mt19937_64 rng(42);
  for (int round = 0; round < 50; ++round) {
    const int n = 1 + static_cast<int>(rng() % 400);
    std::vector<std::vector<uint8_t>> data(n);
    std::vector<HmacSha1Key> keys(n);
    std::vector<std::array<uint8_t, kMacOutLen>> o1(n), o2(n);
    std::vector<MacJob> j1, j2;
    for (int i = 0; i < n; ++i) {
      data[i].resize(rng() % 1600);
      for (auto& b : data[i]) b = static_cast<uint8_t>(rng());
      std::vector<uint8_t> raw(20);
      for (auto& b : raw) b = static_cast<uint8_t>(rng());
      keys[i] = HmacSha1Key::FromKey(raw);
      j1.push_back({data[i].data(), static_cast<uint32_t>(data[i].size()), &keys[i], o1[i].data()});
      j2.push_back({data[i].data(), static_cast<uint32_t>(data[i].size()), &keys[i], o2[i].data()});
    }
    scalar->Compute(j1);
    mb->Compute(j2);
    for (int i = 0; i < n; ++i) ASSERT_EQ(o1[i], o2[i]) << "round " << round << " job " << i;
  }
}

#if defined(MPSWITCH_HAVE_IPSEC_MB)
// HmacSha1Key's words are what ipsec-mb's own precompute produces, so no conversion is needed.
TEST(MacKernelTest, KeyStateMatchesIpsecMbOneBlock) {
  IMB_MGR* mgr = alloc_mb_mgr(0);
  ASSERT_NE(mgr, nullptr);
  IMB_ARCH arch;
  init_mb_mgr_auto(mgr, &arch);
  std::vector<uint8_t> key(20, 0x42);
  uint8_t block[64] = {};
  std::memcpy(block, key.data(), key.size());
  for (auto& b : block) b ^= 0x36;
  uint8_t state[20];
  IMB_SHA1_ONE_BLOCK(mgr, block, state);
  const HmacSha1Key k = HmacSha1Key::FromKey(key);
  EXPECT_EQ(std::memcmp(state, k.inner.data(), 20), 0);
  free_mb_mgr(mgr);
}
#endif

TEST(MacKernelTest, BestKernelHonoursOverride) {
  setenv("MPSWITCH_MAC_KERNEL", "scalar", 1);
  EXPECT_EQ(MakeBestMacKernel()->Name(), "scalar-openssl");
  unsetenv("MPSWITCH_MAC_KERNEL");
  EXPECT_FALSE(MakeBestMacKernel()->Name().empty());
}

}  // namespace
}  // namespace mpswitch::dataplane
