// Quiescent-state based reclamation for the socket backend (the DPDK backend uses rte_rcu_qsbr with
// the same shape).
//
// A reader (worker) registers once, then reports a quiescent point between bursts — a moment at
// which it holds no pointer into any published table. A writer (control) that has unlinked an old
// table asks for a token with Start() and may free the table once Check(token) is true: every
// registered reader has passed a quiescent point since. A reader that blocks (in epoll, say) goes
// Offline() first, so it never holds reclamation up, and Online() before it reads a table again.
//
// Readers: Quiescent/Online/Offline are one relaxed load and one release store, no locked
// instruction. Writers: Start/Check may be called from any number of control threads.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>

#include "absl/status/statusor.h"

namespace mpswitch::dataplane::io {

class EpochDomain {
 public:
  explicit EpochDomain(uint32_t max_readers);

  // A reader id in [0, max_readers), online from now on. ResourceExhausted when all are taken.
  absl::StatusOr<uint32_t> Register();
  void Unregister(uint32_t id) { Offline(id); }

  void Quiescent(uint32_t id) {
    slots_[id].seen.store(epoch_.load(std::memory_order_acquire), std::memory_order_release);
  }
  void Offline(uint32_t id) { slots_[id].seen.store(kOffline, std::memory_order_release); }
  // The fence orders the store before the reader's next table load: without it a writer could
  // still see this reader offline while the reader already loads the old pointer (store-load
  // reordering), and free it under the reader. Called once per blocking wait, not per packet.
  void Online(uint32_t id) {
    Quiescent(id);
    std::atomic_thread_fence(std::memory_order_seq_cst);
  }

  // A token for "everything unlinked before this call".
  uint64_t Start() { return epoch_.fetch_add(1, std::memory_order_seq_cst) + 1; }
  // Whether every reader has been quiescent or offline since Start() returned `token`.
  bool Check(uint64_t token) const;

 private:
  static constexpr uint64_t kOffline = ~uint64_t{0};
  struct alignas(64) Slot {
    std::atomic<uint64_t> seen{kOffline};
    std::atomic<bool> used{false};
  };
  uint32_t max_readers_;
  std::unique_ptr<Slot[]> slots_;
  alignas(64) std::atomic<uint64_t> epoch_{1};
};

}  // namespace mpswitch::dataplane::io
