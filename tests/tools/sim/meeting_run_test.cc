// A secure meeting through the real switch on 127.0.0.1 (socket backend, control loop, simulated
// rooms over UDP): every room must decrypt everything the switch sent it with the keys it learned
// from EKT, never get its own media, see every video switch start on a refresh frame; and the
// capture and key log alone must let libsrtp2 decrypt every datagram.
#include "mpswitch/sim/meeting_run.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <string>

#include "absl/strings/str_join.h"
#include "mpswitch/sim/capture_check.h"

namespace mpswitch::sim {
namespace {

void ExpectPassed(const MeetingRun& run) {
  std::vector<std::string> why;
  EXPECT_TRUE(run.Passed(&why)) << absl::StrJoin(why, "\n");
  const RunTotals t = run.Totals();
  // Not vacuous: the meeting switched video on refresh requests, keys changed mid-call and the
  // switch learned them, and media flowed to every room.
  EXPECT_GT(t.video_switches, 0u);
  EXPECT_GT(t.refresh_requests, 0u);
  EXPECT_GT(t.verified, 5000u);
  uint64_t key_changes = 0, streams = 0;
  for (const MeetingRun::Room& r : run.rooms()) {
    key_changes += r.sender->key_changes();
    streams += RoomSender::LoadOf(r.spec).size();
  }
  EXPECT_GT(key_changes, 0u);
  // Every stream's first key and every changed key, each learned once by the worker that owns
  // the stream.
  EXPECT_EQ(t.switch_keys_learned, streams + key_changes);
}

TEST(MeetingRunTest, InTagMeetingWithKeyChangesAndCapture) {
  RunOptions o;
  o.duration_ms = 4000;
  o.join_spacing_ms = 100;
  o.video_kbps = 1500;
  o.first_port = 20000;
  o.seq_near_wrap = true;  // every stream wraps its sequence numbers early in the call
  o.leave_at_ms = 3000;    // a room leaves: the others move to a new group
  const std::string dir = ::testing::TempDir();
  o.keylog_path = dir + "/meeting_run_test.keys";
  o.pcap_path = dir + "/meeting_run_test.pcap";
  std::remove(o.keylog_path.c_str());
  absl::StatusOr<std::unique_ptr<MeetingRun>> run = MeetingRun::Create(o);
  ASSERT_TRUE(run.ok()) << run.status();
  ASSERT_TRUE((*run)->Run().ok());
  ExpectPassed(**run);
  EXPECT_EQ((*run)->node().rotations(), 1u);
  EXPECT_TRUE((*run)->rooms().back().left);
  run->reset();  // closes the capture

  absl::StatusOr<CaptureReport> rep = CheckCapture(o.pcap_path, o.keylog_path);
  ASSERT_TRUE(rep.ok()) << rep.status();
  EXPECT_EQ(rep->failed, 0u) << rep->first_failure;
  EXPECT_GT(rep->decrypted, 10000u);
  EXPECT_LE(rep->awaiting_key * 20, rep->decrypted);
}

TEST(MeetingRunTest, Rfc8870SiteModeFlipTwoWorkersTwoMeetings) {
  RunOptions o;
  o.duration_ms = 4000;
  o.meetings = 2;
  o.screens = {3, 1, 1};
  o.join_spacing_ms = 100;
  o.video_kbps = 1000;
  o.workers = 2;
  o.ekt_format = ekt::EktFormat::kRfc8870;
  o.mode = control::SwitchingMode::kSite;
  o.mode_flip_at_ms = 2000;
  o.leave_at_ms = 3000;  // the last room of each meeting leaves
  o.first_port = 20200;
  const std::string dir = ::testing::TempDir();
  o.keylog_path = dir + "/meeting_run_test_2.keys";
  o.pcap_path = dir + "/meeting_run_test_2.pcap";
  std::remove(o.keylog_path.c_str());
  absl::StatusOr<std::unique_ptr<MeetingRun>> run = MeetingRun::Create(o);
  ASSERT_TRUE(run.ok()) << run.status();
  ASSERT_TRUE((*run)->Run().ok());
  ExpectPassed(**run);
  EXPECT_EQ((*run)->node().rotations(), 2u);
  // Two meetings, four groups in the key log (each rotated once): the capture check takes them.
  absl::StatusOr<CaptureReport> rep = CheckCapture(o.pcap_path, o.keylog_path);
  ASSERT_TRUE(rep.ok()) << rep.status();
  EXPECT_EQ(rep->failed, 0u) << rep->first_failure;
  EXPECT_GT(rep->decrypted, 5000u);
  // Both workers carried media.
  for (uint32_t w = 0; w < 2; ++w) EXPECT_GT((*run)->io_counters(w).tx_datagrams.Get(), 0u);
  for (size_t m = 0; m < 2; ++m) {
    EXPECT_EQ((*run)->node().meeting(m).mode(), control::SwitchingMode::kSegment);
    EXPECT_TRUE((*run)->node().meeting(m).secure());
  }
}

TEST(MeetingRunTest, CaptureCheckRefusesAWrongKeyLog) {
  const std::string dir = ::testing::TempDir();
  const std::string keys = dir + "/wrong.keys";
  const std::string pcap = dir + "/wrong.pcap";
  RunOptions o;
  o.duration_ms = 1000;
  o.screens = {1, 1};
  o.video_kbps = 500;
  o.key_changes = false;
  o.pcap_path = pcap;
  o.first_port = 20400;
  {
    absl::StatusOr<std::unique_ptr<MeetingRun>> run = MeetingRun::Create(o);
    ASSERT_TRUE(run.ok()) << run.status();
    ASSERT_TRUE((*run)->Run().ok());
  }
  // A key log of another run: its KEK cannot unwrap this capture's keys.
  o.pcap_path.clear();
  o.keylog_path = keys;
  std::remove(keys.c_str());
  {
    absl::StatusOr<std::unique_ptr<MeetingRun>> run = MeetingRun::Create(o);
    ASSERT_TRUE(run.ok()) << run.status();
    ASSERT_TRUE((*run)->Run().ok());
  }
  absl::StatusOr<CaptureReport> rep = CheckCapture(pcap, keys);
  ASSERT_TRUE(rep.ok()) << rep.status();
  EXPECT_EQ(rep->decrypted, 0u);
  EXPECT_GT(rep->failed, 0u);
  EXPECT_FALSE(CheckCapture(dir + "/missing.pcap", keys).ok());
  EXPECT_FALSE(CheckCapture(pcap, dir + "/missing.keys").ok());
}

}  // namespace
}  // namespace mpswitch::sim
