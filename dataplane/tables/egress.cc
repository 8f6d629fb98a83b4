#include "mpswitch/dataplane/tables/egress.h"

#include "absl/status/status.h"
#include "absl/strings/str_format.h"

namespace mpswitch::dataplane {

absl::StatusOr<DataplaneTables> DataplaneTables::Build(
    std::span<const StreamConfig> streams, std::vector<Egress> egress,
    std::span<const ekt::GroupParams> ekt_groups, uint64_t generation,
    std::shared_ptr<const GateBank> gates) {
  for (size_t i = 0; i < egress.size(); ++i) {
    if (egress[i].addr.family != 4 && egress[i].addr.family != 6) {
      return absl::InvalidArgumentError(absl::StrFormat("egress %d has no address", i));
    }
    if (egress[i].port == 0 || egress[i].local_port == 0) {
      return absl::InvalidArgumentError(
          absl::StrFormat("egress %d (%s) needs a remote port and a local media port", i,
                          egress[i].addr.ToString()));
    }
  }
  for (const StreamConfig& s : streams) {
    for (const RouteConfig& r : s.routes) {
      if (r.egress >= egress.size()) {
        return absl::InvalidArgumentError(absl::StrFormat(
            "stream port %d SSRC %08x routes to egress %d, but only %d egress entries exist",
            s.local_port, s.ssrc, r.egress, egress.size()));
      }
    }
  }
  auto snap = Snapshot::Build(streams, ekt_groups, gates.get());
  if (!snap.ok()) return snap.status();
  DataplaneTables t;
  t.media = std::move(*snap);
  t.egress = std::move(egress);
  t.generation = generation;
  t.gates = std::move(gates);
  return t;
}

}  // namespace mpswitch::dataplane
