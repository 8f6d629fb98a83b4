// HMAC-SHA1 for SRTP/SRTCP tags, keyed once per stream and computed per packet from precomputed
// inner and outer SHA-1 states, by a scalar kernel (OpenSSL's SHA-1 block function, which uses
// SHA-NI where present) or a multi-buffer kernel (intel-ipsec-mb job API).
//
// Jobs are submitted one at a time as the pipeline builds each packet, and completed by one Flush
// per burst phase: the multi-buffer kernel keeps its lanes full across the whole burst and all
// routes, and hashes each buffer while it is still in L1 from being built. The scalar kernel
// computes on Submit.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <span>
#include <string_view>

namespace mpswitch::dataplane {

// SHA-1 chaining values after one block of (key XOR ipad) and one of (key XOR opad): all a
// receiver of the key needs to compute HMACs. 40 bytes, no pointers, trivially copyable, so it can
// sit in hot per-stream state and in immutable snapshots.
struct HmacSha1Key {
  std::array<uint32_t, 5> inner{};
  std::array<uint32_t, 5> outer{};

  // Keys from raw key bytes (any length; keys longer than 64 bytes are hashed first, RFC 2104).
  static HmacSha1Key FromKey(std::span<const uint8_t> key);
};

// Kernels write at least this many bytes of the MAC (intel-ipsec-mb emits 12 or 20 for
// HMAC-SHA1); callers truncate to the tag length.
inline constexpr size_t kMacOutLen = 12;

// One MAC to compute: HMAC-SHA1(key, data[0..len)) truncated to kMacOutLen bytes into `out`.
// `data`, `key` and `out` must stay valid until Compute returns.
struct MacJob {
  const uint8_t* data;
  uint32_t len;
  const HmacSha1Key* key;
  uint8_t* out;
};

// Not thread-safe: one kernel per worker.
class MacKernel {
 public:
  virtual ~MacKernel() = default;
  virtual std::string_view Name() const = 0;
  // Queues one job. Its output may be written now or by the next Flush(); its buffers must stay
  // valid and unchanged until then.
  virtual void Submit(const MacJob& job) = 0;
  // Completes every submitted job.
  virtual void Flush() = 0;

  // Submits every job and flushes.
  void Compute(std::span<const MacJob> jobs) {
    for (const MacJob& j : jobs) Submit(j);
    Flush();
  }
};

// Full 20-byte HMAC with the scalar code (also the reference for kernel tests).
void HmacSha1(const HmacSha1Key& key, std::span<const uint8_t> data, uint8_t out[20]);

std::unique_ptr<MacKernel> MakeScalarMacKernel();

// The multi-buffer kernel, or nullptr when the build has no intel-ipsec-mb or the CPU has no
// vector unit it supports. Its Name() says which ipsec-mb architecture it runs.
std::unique_ptr<MacKernel> MakeMultiBufferMacKernel();

// The kernel a worker should use on this machine: multi-buffer when available, else scalar.
// MPSWITCH_MAC_KERNEL=scalar|multibuffer in the environment overrides the choice (operators use it
// to compare; an unavailable choice falls back to scalar).
std::unique_ptr<MacKernel> MakeBestMacKernel();

}  // namespace mpswitch::dataplane
