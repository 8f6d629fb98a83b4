#include "mpswitch/dataplane/io/quiescent.h"

#include "absl/status/status.h"
#include "absl/strings/str_format.h"

namespace mpswitch::dataplane::io {

EpochDomain::EpochDomain(uint32_t max_readers)
    : max_readers_(max_readers), slots_(std::make_unique<Slot[]>(max_readers)) {}

absl::StatusOr<uint32_t> EpochDomain::Register() {
  for (uint32_t i = 0; i < max_readers_; ++i) {
    bool expected = false;
    if (slots_[i].used.compare_exchange_strong(expected, true, std::memory_order_acq_rel)) {
      Online(i);
      return i;
    }
  }
  return absl::ResourceExhaustedError(absl::StrFormat(
      "all %d reader slots of the snapshot domain are taken: raise the worker limit", max_readers_));
}

bool EpochDomain::Check(uint64_t token) const {
  // Pairs with the fence in Online(): see the header.
  std::atomic_thread_fence(std::memory_order_seq_cst);
  for (uint32_t i = 0; i < max_readers_; ++i) {
    const uint64_t seen = slots_[i].seen.load(std::memory_order_acquire);
    // An online reader that has not reported since `token` may still hold the old table.
    if (seen != kOffline && seen < token) return false;
  }
  return true;
}

}  // namespace mpswitch::dataplane::io
