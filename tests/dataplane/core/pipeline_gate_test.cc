// IDR-aligned video switching in the pipeline: a receiver gets the new source from its first
// refresh-flagged packet exactly, and nothing of the old source after it, even inside one burst.
#include <gtest/gtest.h>

#include "pipeline_harness.h"

namespace mpswitch::dataplane::testing {
namespace {

constexpr uint32_t kNew = 0x1111, kOld = 0x2222;
constexpr uint32_t kReceiver = 7, kOther = 8;  // egress: the switching display, an unaffected one

RouteConfig Route(uint32_t egress, uint8_t sink, GateMode mode = GateMode::kNone, GateRef g = {}) {
  RouteConfig r;
  r.egress = egress;
  r.csrc = CsrcRewrite{};
  r.csrc->sink = sink;
  r.gate_mode = mode;
  r.gate = g;
  return r;
}

// A video source that opens `gate` on its first refresh frame, routed as given.
SenderSpec GatedSource(GateRef gate, std::vector<RouteConfig> routes) {
  SenderSpec s;
  s.ssrc = kNew;
  s.trailing = TrailingByte::kVideoRefresh;
  s.csrcs = {0x12345011};
  s.routes = std::move(routes);
  s.opens_gate = gate;
  return s;
}

struct Seen {
  std::vector<std::pair<uint32_t, uint16_t>> at_receiver;  // (ssrc, seq) in output order
  size_t at_other = 0;
};

Seen Collect(PipelineHarness& h, const BurstRun& run) {
  Seen s;
  for (const Output& o : run.outputs) {
    h.VerifyOutput(o);
    if (o.egress == kReceiver) s.at_receiver.push_back({LoadBe32(&o.bytes[8]), LoadBe16(&o.bytes[2])});
    if (o.egress == kOther) ++s.at_other;
  }
  return s;
}

TEST(PipelineGateTest, NewSourceStartsAtItsRefreshAndTheOldStopsThere) {
  GateBank bank(16);
  const GateRef gate{3, 77};
  SenderSpec nw = GatedSource(gate, {Route(kReceiver, 1, GateMode::kAfterOpen, gate)});
  SenderSpec old = nw;
  old.ssrc = kOld;
  old.opens_gate = {};
  old.routes = {Route(kReceiver, 1, GateMode::kUntilOpen, gate), Route(kOther, 2)};
  PipelineHarness h({nw, old}, MakeBestMacKernel(), 5, &bank);

  // Before any refresh: the old source only.
  auto run = h.Run({h.Next(1, 300, 0), h.Next(0, 300, 0), h.Next(1, 300, 0)});
  Seen s = Collect(h, run);
  ASSERT_EQ(s.at_receiver.size(), 2u);
  EXPECT_EQ(s.at_receiver[0].first, kOld);
  EXPECT_EQ(s.at_receiver[1].first, kOld);
  EXPECT_EQ(s.at_other, 2u);
  EXPECT_FALSE(bank.IsOpen(gate));

  // One burst: a mid-frame packet of the new source, the old source, the IDR, more of the new.
  const auto mid = h.Next(0, 300, 0);
  const auto old_pkt = h.Next(1, 300, 0);
  const auto idr = h.Next(0, 300, 1);
  const uint16_t idr_seq = LoadBe16(&idr[2]);
  const auto after = h.Next(0, 300, 0);
  run = h.Run({mid, old_pkt, idr, after});
  s = Collect(h, run);
  EXPECT_TRUE(bank.IsOpen(gate)) << "the refresh opens the gate";
  ASSERT_EQ(s.at_receiver.size(), 2u) << "the IDR and what follows it, nothing before";
  EXPECT_EQ(s.at_receiver[0], std::make_pair(kNew, idr_seq));
  EXPECT_EQ(s.at_receiver[1].first, kNew);
  EXPECT_EQ(s.at_other, 1u) << "the unaffected receiver keeps the old source";

  // Later bursts: the new source only, a GDR-less stream stays switched.
  run = h.Run({h.Next(1, 300, 0), h.Next(0, 300, 0), h.Next(0, 300, 3)});
  s = Collect(h, run);
  ASSERT_EQ(s.at_receiver.size(), 2u);
  EXPECT_EQ(s.at_receiver[0].first, kNew);
  EXPECT_EQ(s.at_other, 1u);
  EXPECT_EQ(h.verified(), 2u + 2 + 2 + 1 + 2 + 1);
}

// A cell left at another switch's serial is not open for this one, and routes that differ only
// by their gate are not merged into one group.
TEST(PipelineGateTest, StaleSerialsStayClosedAndGatesKeepRoutesApart) {
  GateBank bank(8);
  const GateRef gate{2, 41};
  bank.cells()[2].store(40);  // an earlier switch through the same cell
  // Same sink on both routes: only the gates tell them apart.
  SenderSpec nw =
      GatedSource(gate, {Route(kReceiver, 1, GateMode::kAfterOpen, gate), Route(kOther, 1)});
  PipelineHarness h({nw}, MakeBestMacKernel(), 8, &bank);
  auto run = h.Run({h.Next(0, 100, 0)});
  ASSERT_EQ(run.outputs.size(), 1u);
  EXPECT_EQ(run.outputs[0].egress, kOther) << "the stale serial must not read as open";
  run = h.Run({h.Next(0, 100, 1)});
  EXPECT_EQ(run.outputs.size(), 2u);
  EXPECT_EQ(bank.cells()[2].load(), 41u);
}

TEST(PipelineGateTest, ALateFirstPacketOfAnOlderRefreshFrameDoesNotOpenTheGate) {
  GateBank bank(4);
  const GateRef gate{1, 3};
  SenderSpec nw = GatedSource(gate, {Route(kReceiver, 1, GateMode::kAfterOpen, gate)});
  PipelineHarness h({nw}, MakeBestMacKernel(), 9, &bank);
  const auto old_idr = h.Next(0, 100, 1);
  const auto p1 = h.Next(0, 100, 0);
  const auto p2 = h.Next(0, 100, 0);
  auto run = h.Run({p1, p2, old_idr});  // the IDR arrives after newer packets
  EXPECT_TRUE(run.outputs.empty());
  EXPECT_FALSE(bank.IsOpen(gate));
  run = h.Run({h.Next(0, 100, 1)});
  EXPECT_EQ(run.outputs.size(), 1u);
  EXPECT_TRUE(bank.IsOpen(gate));
}

TEST(PipelineGateTest, GdrAlsoSwitchesAndLongTermReferenceDoesNot) {
  GateBank bank(4);
  const GateRef gate{1, 9};
  SenderSpec nw = GatedSource(gate, {Route(kReceiver, 1, GateMode::kAfterOpen, gate)});
  PipelineHarness h({nw}, MakeBestMacKernel(), 6, &bank);
  auto run = h.Run({h.Next(0, 100, 3), h.Next(0, 100, 7), h.Next(0, 100, 0)});
  EXPECT_TRUE(run.outputs.empty()) << "long-term reference frames are not switch points";
  run = h.Run({h.Next(0, 100, 2), h.Next(0, 100, 0)});
  EXPECT_EQ(run.outputs.size(), 2u);
}

TEST(PipelineGateTest, GatesOutsideTheBankOrNotOpenedByTheStreamAreRefused) {
  GateBank bank(4);
  StreamConfig c;
  c.local_port = 16384;
  c.ssrc = 1;
  c.trailing = TrailingByte::kVideoRefresh;
  c.routes = {Route(1, 1, GateMode::kAfterOpen, GateRef{2, 1})};
  EXPECT_FALSE(Snapshot::Build({&c, 1}, {}, &bank).ok()) << "kAfterOpen on a gate it does not open";
  c.opens_gate = GateRef{2, 1};
  EXPECT_TRUE(Snapshot::Build({&c, 1}, {}, &bank).ok());
  EXPECT_FALSE(Snapshot::Build({&c, 1}, {}, nullptr).ok()) << "no bank";
  c.opens_gate = GateRef{9, 1};
  c.routes = {Route(1, 1, GateMode::kUntilOpen, GateRef{9, 1})};
  EXPECT_FALSE(Snapshot::Build({&c, 1}, {}, &bank).ok()) << "index outside the bank";
  c.opens_gate = GateRef{1, 1};
  c.trailing = TrailingByte::kAudioActivity;
  c.routes = {};
  EXPECT_FALSE(Snapshot::Build({&c, 1}, {}, &bank).ok()) << "only video refresh opens a gate";
  c.trailing = TrailingByte::kVideoRefresh;
  c.opens_gate = GateRef{1, 0};
  EXPECT_FALSE(Snapshot::Build({&c, 1}, {}, &bank).ok()) << "serial 0 reads as open on a new cell";
  c.opens_gate = GateRef{1, 5};
  StreamConfig c2 = c;
  c2.ssrc = 2;
  c2.rt_slot = 1;
  const StreamConfig both[] = {c, c2};
  EXPECT_FALSE(Snapshot::Build(both, {}, &bank).ok()) << "one gate, one opener";
}

}  // namespace
}  // namespace mpswitch::dataplane::testing
