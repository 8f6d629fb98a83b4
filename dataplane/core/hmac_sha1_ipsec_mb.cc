// Multi-buffer HMAC-SHA1 with intel-ipsec-mb's job API.
//
// The manager hashes several independent buffers in SIMD lanes (or two at a time with SHA-NI). It
// only pays off when lanes are full, so the caller hands over a whole burst's worth of jobs
// (every packet of the burst times every route) and the kernel submits them all, then flushes
// once. Submitting and flushing per job is slower than the scalar kernel.
#include "mpswitch/dataplane/core/hmac_sha1.h"

#if defined(MPSWITCH_HAVE_IPSEC_MB)
#include <intel-ipsec-mb.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>
#endif

namespace mpswitch::dataplane {

#if defined(MPSWITCH_HAVE_IPSEC_MB)
namespace {

// ipsec-mb resumes HMAC from the inner/outer chaining values as five native-endian 32-bit words,
// which is exactly HmacSha1Key's layout (tests/dataplane/core/hmac_sha1_test.cc checks this
// against IMB_SHA1_ONE_BLOCK and against the scalar kernel).
static_assert(sizeof(HmacSha1Key::inner) == 20);

class IpsecMbMacKernel final : public MacKernel {
 public:
  IpsecMbMacKernel(IMB_MGR* mgr, IMB_ARCH arch) : mgr_(mgr) {
    switch (arch) {
      case IMB_ARCH_SSE: name_ = "ipsec-mb-sse"; break;
      case IMB_ARCH_AVX: name_ = "ipsec-mb-avx"; break;
      case IMB_ARCH_AVX2: name_ = "ipsec-mb-avx2"; break;
      case IMB_ARCH_AVX512: name_ = "ipsec-mb-avx512"; break;
      default: name_ = "ipsec-mb"; break;
    }
    if (has_shani()) name_ += "+shani";
  }
  ~IpsecMbMacKernel() override { free_mb_mgr(mgr_); }

  std::string_view Name() const override { return name_; }
  bool has_shani() const { return (mgr_->features & IMB_FEATURE_SHANI) != 0; }

  void Submit(const MacJob& j) override {
    if (j.len == 0) {
      // ipsec-mb refuses empty messages; SRTP never hashes fewer than 16 bytes, but the kernel
      // contract covers every length.
      uint8_t full[20];
      HmacSha1(*j.key, {}, full);
      std::memcpy(j.out, full, kMacOutLen);
      return;
    }
    IMB_JOB* job = IMB_GET_NEXT_JOB(mgr_);
    job->cipher_mode = IMB_CIPHER_NULL;
    job->cipher_direction = IMB_DIR_ENCRYPT;
    job->chain_order = IMB_ORDER_HASH_CIPHER;
    job->src = j.data;
    job->dst = nullptr;
    job->cipher_start_src_offset_in_bytes = 0;
    job->msg_len_to_cipher_in_bytes = 0;
    job->hash_alg = IMB_AUTH_HMAC_SHA_1;
    job->hash_start_src_offset_in_bytes = 0;
    job->msg_len_to_hash_in_bytes = j.len;
    job->u.HMAC._hashed_auth_key_xor_ipad = reinterpret_cast<const uint8_t*>(j.key->inner.data());
    job->u.HMAC._hashed_auth_key_xor_opad = reinterpret_cast<const uint8_t*>(j.key->outer.data());
    job->auth_tag_output = j.out;
    job->auth_tag_output_len_in_bytes = kMacOutLen;
    // Completed jobs need no handling: the tag is already in place. Drain them so the ring never
    // fills; the returned job pointers are not used.
    IMB_JOB* done = IMB_SUBMIT_JOB(mgr_);
    while (done != nullptr) {
      CheckStatus(done);
      done = IMB_GET_COMPLETED_JOB(mgr_);
    }
  }

  void Flush() override {
    while (IMB_JOB* done = IMB_FLUSH_JOB(mgr_)) CheckStatus(done);
  }

 private:
  static void CheckStatus(const IMB_JOB* job) {
    // A job only fails on a malformed request (a bug here, not bad input): the request fields are
    // set from trusted values above. A wrong MAC would make verification fail safe (drop), and
    // output tags would fail at receivers, so abort loudly rather than emit garbage.
    if (job->status != IMB_STATUS_COMPLETED) std::abort();
  }

  IMB_MGR* mgr_;
  std::string name_;
};

std::unique_ptr<IpsecMbMacKernel> MakeManager(uint64_t flags) {
  IMB_MGR* mgr = alloc_mb_mgr(flags);
  if (mgr == nullptr) return nullptr;
  IMB_ARCH arch = IMB_ARCH_NONE;
  init_mb_mgr_auto(mgr, &arch);
  if (arch == IMB_ARCH_NONE || imb_get_errno(mgr) != 0) {
    free_mb_mgr(mgr);
    return nullptr;
  }
  return std::make_unique<IpsecMbMacKernel>(mgr, arch);
}

// Best of a few timed rounds over a burst shaped like video fan-out (128 jobs of ~1.2 KB).
uint64_t TimeKernel(MacKernel& k) {
  static std::vector<uint8_t> data(128 * 1240, 0x5a);
  static const HmacSha1Key key = HmacSha1Key::FromKey(std::span<const uint8_t>(data.data(), 20));
  std::vector<std::array<uint8_t, kMacOutLen>> out(128);
  std::vector<MacJob> jobs(128);
  for (size_t i = 0; i < jobs.size(); ++i) jobs[i] = {&data[i * 1240], 1240, &key, out[i].data()};
  uint64_t best = ~uint64_t{0};
  for (int round = 0; round < 3; ++round) {
    const auto t0 = std::chrono::steady_clock::now();
    k.Compute(jobs);
    const auto t1 = std::chrono::steady_clock::now();
    best = std::min<uint64_t>(best, std::chrono::duration_cast<std::chrono::nanoseconds>(t1 - t0).count());
  }
  return best;
}

}  // namespace

std::unique_ptr<MacKernel> MakeMultiBufferMacKernel() {
  // With SHA-NI, ipsec-mb hashes two buffers at a time with the SHA instructions; without it, 8
  // (AVX2) or 16 (AVX-512) in vector lanes. Which is faster depends on the core (measured: AVX2 x8
  // beats SHA-NI x2 on AMD EPYC here), so time both once at start-up unless the operator chose
  // with MPSWITCH_IPSEC_MB_SHANI=on|off.
  // The choice is made once per process so that every worker runs the same code.
  static const uint64_t flags = [] {
    const char* env = std::getenv("MPSWITCH_IPSEC_MB_SHANI");
    const std::string choice = env ? env : "";
    if (choice == "off") return uint64_t{IMB_FLAG_SHANI_OFF};
    auto with_shani = MakeManager(0);
    if (choice == "on" || !with_shani || !with_shani->has_shani()) return uint64_t{0};
    auto without = MakeManager(IMB_FLAG_SHANI_OFF);
    if (!without) return uint64_t{0};
    uint64_t t_with = ~uint64_t{0}, t_without = ~uint64_t{0};
    for (int i = 0; i < 4; ++i) {  // alternate so a noisy moment does not favour one side
      t_with = std::min(t_with, TimeKernel(*with_shani));
      t_without = std::min(t_without, TimeKernel(*without));
    }
    return t_without < t_with ? uint64_t{IMB_FLAG_SHANI_OFF} : uint64_t{0};
  }();
  return MakeManager(flags);
}

#else

std::unique_ptr<MacKernel> MakeMultiBufferMacKernel() { return nullptr; }

#endif

}  // namespace mpswitch::dataplane
