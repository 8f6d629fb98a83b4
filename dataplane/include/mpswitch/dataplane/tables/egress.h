// What workers need besides the routing snapshot: where each output goes. Published together with
// the Snapshot as one immutable `DataplaneTables`, so a route and its address change atomically.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "mpswitch/dataplane/tables/ip_addr.h"
#include "mpswitch/dataplane/tables/snapshot.h"

namespace mpswitch::dataplane {

// One receiver address: a leg's media address, to which the switch sends from `local_port` (the
// receiving leg's port on the switch).
struct Egress {
  uint16_t local_port = 0;
  IpAddr addr;
  uint16_t port = 0;  // host order
};

struct DataplaneTables {
  Snapshot media;
  std::vector<Egress> egress;  // indexed by Destination::egress
  uint64_t generation = 0;     // control's serial, for logs and tests
  std::shared_ptr<const GateBank> gates;  // kept alive while workers may read these tables

  // Compiles streams into a snapshot and checks that every route names an entry of `egress` with
  // an address family and a port. InvalidArgument names the offending stream or entry.
  static absl::StatusOr<DataplaneTables> Build(std::span<const StreamConfig> streams,
                                               std::vector<Egress> egress,
                                               std::span<const ekt::GroupParams> ekt_groups = {},
                                               uint64_t generation = 0,
                                               std::shared_ptr<const GateBank> gates = nullptr);
};

}  // namespace mpswitch::dataplane
