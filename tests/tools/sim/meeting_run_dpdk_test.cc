// The same secure meeting through the DPDK backend: a net_tap port owned by the switch, the rooms
// as kernel sockets on the tap's other side. Its own binary: EAL starts once per process.
#include <gtest/gtest.h>
#include <unistd.h>

#include "absl/strings/str_join.h"
#include "mpswitch/sim/meeting_run.h"

namespace mpswitch::sim {
namespace {

TEST(MeetingRunDpdkTest, SecureMeetingThroughNetTap) {
  if (geteuid() != 0 || access("/dev/net/tun", R_OK | W_OK) != 0) {
    GTEST_SKIP() << "needs root and /dev/net/tun for the net_tap device";
  }
  RunOptions o;
  o.backend = Backend::kDpdkTap;
  o.tap_interface = "mpswtest0";
  o.duration_ms = 4000;
  o.join_spacing_ms = 100;
  o.video_kbps = 1000;
  o.first_port = 21000;
  absl::StatusOr<std::unique_ptr<MeetingRun>> run = MeetingRun::Create(o);
  ASSERT_TRUE(run.ok()) << run.status();
  ASSERT_TRUE((*run)->Run().ok());
  std::vector<std::string> why;
  EXPECT_TRUE((*run)->Passed(&why)) << absl::StrJoin(why, "\n");
  const RunTotals t = (*run)->Totals();
  EXPECT_GT(t.video_switches, 0u);
  EXPECT_GT(t.verified, 3000u);
  // Nothing lost between the kernel and the PMD; what else came in is the kernel's own traffic
  // on the tap (IPv6 router and listener messages), refused as foreign.
  EXPECT_EQ(t.switch_in, t.sent + t.foreign_drops);
}

}  // namespace
}  // namespace mpswitch::sim
