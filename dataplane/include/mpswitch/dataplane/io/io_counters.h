// Counters an I/O backend keeps per worker, beside the pipeline's WorkerCounters. One writer (the
// worker), any number of readers (control, telemetry, tests).
#pragma once

#include <array>
#include <cstdint>

#include "mpswitch/dataplane/core/pipeline.h"
#include "mpswitch/dataplane/io/io_drop.h"

namespace mpswitch::dataplane::io {

// Latency from "burst received" to "its outputs handed to the kernel/NIC", in power-of-two
// nanosecond buckets: bucket b counts outputs with latency in [2^b, 2^(b+1)) ns.
struct LatencyHistogram {
  static constexpr int kBuckets = 40;
  std::array<Counter, kBuckets> buckets;

  void Add(uint64_t ns, uint64_t n) {
    int b = ns == 0 ? 0 : 63 - __builtin_clzll(ns);
    if (b >= kBuckets) b = kBuckets - 1;
    buckets[static_cast<size_t>(b)].Add(n);
  }
  // Upper edge of the bucket holding quantile q (0..1); 0 when empty.
  uint64_t QuantileNs(double q) const;
};

struct IoCounters {
  Counter rx_datagrams;  // datagrams/frames received
  Counter rx_bursts;     // non-empty receive calls
  Counter tx_datagrams;  // outputs handed to the kernel/NIC
  Counter punted;        // non-media packets delivered to the control thread
  Counter polls;         // loop iterations
  Counter idle_waits;    // blocking waits (socket backend)
  Counter busy_ns;       // time from a non-empty receive to its outputs handed on (poll mode:
                         // the CPU a busy-polling lcore really spent on packets)
  Counter drops[kIoDropCount];
  LatencyHistogram latency;

  uint64_t Drops(IoDrop d) const { return drops[static_cast<size_t>(d)].Get(); }
  void Drop(IoDrop d, uint64_t n = 1) { drops[static_cast<size_t>(d)].Add(n); }
};

inline uint64_t LatencyHistogram::QuantileNs(double q) const {
  uint64_t total = 0;
  for (const Counter& c : buckets) total += c.Get();
  if (total == 0) return 0;
  const double want = q * static_cast<double>(total);
  uint64_t seen = 0;
  for (int b = 0; b < kBuckets; ++b) {
    seen += buckets[static_cast<size_t>(b)].Get();
    if (static_cast<double>(seen) >= want) return uint64_t{2} << b;
  }
  return uint64_t{2} << (kBuckets - 1);
}

}  // namespace mpswitch::dataplane::io
