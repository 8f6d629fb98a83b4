// Publication of immutable tables to workers: one atomic pointer swap to publish, reclamation of
// the old table after every worker's quiescent point.
//
// `Domain` is EpochDomain (socket backend) or the DPDK backend's RCU QSBR adapter; it must provide
// `uint64_t Start()` and `bool Check(uint64_t) const`.
//
// Threading: Current() is for workers (one acquire load, no reference counting); Publish() and
// Reclaim() are for one control thread at a time. A worker must not keep the pointer Current()
// returned past its next quiescent point.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <utility>
#include <vector>

namespace mpswitch::dataplane::io {

template <typename T, typename Domain>
class Publisher {
 public:
  explicit Publisher(Domain& domain) : domain_(domain) {}
  Publisher(const Publisher&) = delete;
  Publisher& operator=(const Publisher&) = delete;
  // Frees everything, current table included: workers must have stopped reading.
  ~Publisher() {
    delete current_.load(std::memory_order_relaxed);
    for (auto& r : retired_) delete r.second;
  }

  const T* Current() const { return current_.load(std::memory_order_acquire); }

  // Makes `next` the table workers see from their next burst on; the previous one is retired and
  // freed by a later Publish() or Reclaim() once no worker can still hold it.
  void Publish(std::unique_ptr<const T> next) {
    const T* old = current_.exchange(next.release(), std::memory_order_acq_rel);
    if (old != nullptr) retired_.emplace_back(domain_.Start(), old);
    ++published_;
    Reclaim();
  }

  // Frees retired tables every worker is done with. Returns how many are still waiting.
  size_t Reclaim() {
    size_t kept = 0;
    for (auto& r : retired_) {
      if (domain_.Check(r.first)) {
        delete r.second;
        ++reclaimed_;
      } else {
        retired_[kept++] = r;
      }
    }
    retired_.resize(kept);
    return kept;
  }

  uint64_t published() const { return published_; }
  uint64_t reclaimed() const { return reclaimed_; }

 private:
  Domain& domain_;
  std::atomic<const T*> current_{nullptr};
  std::vector<std::pair<uint64_t, const T*>> retired_;
  uint64_t published_ = 0;
  uint64_t reclaimed_ = 0;
};

}  // namespace mpswitch::dataplane::io
