// A worker clock the test sets (WorkerState::SetClock), for what the pipeline times: the ROC
// bound of EKT fields and the unwrap budget's refill.
#pragma once

#include <cstdint>

namespace mpswitch::dataplane::testing {

struct FakeClock {
  static inline uint64_t ms = 0;
  static uint64_t Now() { return ms; }
};

}  // namespace mpswitch::dataplane::testing
