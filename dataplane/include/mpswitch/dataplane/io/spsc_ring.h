// A bounded single-producer single-consumer ring of fixed-size slots, allocated once.
//
// Used where a worker hands something to the control thread (punted non-media datagrams) without a
// lock or an allocation per item: the producer fills a slot in place and publishes it with one
// release store; the consumer reads it in place and frees it with another. Exactly one thread may
// produce and exactly one may consume; both sides are wait-free.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>

namespace mpswitch::dataplane::io {

template <typename T>
class SpscRing {
 public:
  // `capacity` is rounded up to a power of two (at least 2).
  explicit SpscRing(size_t capacity) {
    size_t n = 2;
    while (n < capacity) n <<= 1;
    mask_ = n - 1;
    slots_ = std::make_unique<T[]>(n);
  }
  SpscRing(const SpscRing&) = delete;
  SpscRing& operator=(const SpscRing&) = delete;

  size_t capacity() const { return mask_ + 1; }

  // Producer: the next free slot to fill, or nullptr when the ring is full. Call Push() to publish.
  T* Reserve() {
    const uint64_t head = head_.load(std::memory_order_relaxed);
    if (head - tail_cache_ > mask_) {
      tail_cache_ = tail_.load(std::memory_order_acquire);
      if (head - tail_cache_ > mask_) return nullptr;
    }
    return &slots_[head & mask_];
  }
  void Push() { head_.store(head_.load(std::memory_order_relaxed) + 1, std::memory_order_release); }

  // Consumer: the oldest published slot, or nullptr when empty. Call Pop() when done with it.
  T* Front() {
    const uint64_t tail = tail_.load(std::memory_order_relaxed);
    if (tail == head_cache_) {
      head_cache_ = head_.load(std::memory_order_acquire);
      if (tail == head_cache_) return nullptr;
    }
    return &slots_[tail & mask_];
  }
  void Pop() { tail_.store(tail_.load(std::memory_order_relaxed) + 1, std::memory_order_release); }

 private:
  // Producer and consumer indices on their own cache lines, each with a cached copy of the other's
  // so the common case touches no shared line.
  alignas(64) std::atomic<uint64_t> head_{0};
  uint64_t tail_cache_ = 0;
  alignas(64) std::atomic<uint64_t> tail_{0};
  uint64_t head_cache_ = 0;
  alignas(64) size_t mask_ = 0;
  std::unique_ptr<T[]> slots_;
};

}  // namespace mpswitch::dataplane::io
