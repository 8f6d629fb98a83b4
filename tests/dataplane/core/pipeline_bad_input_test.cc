// Bad input: every malformed, forged, replayed or unroutable packet yields its named drop and
// nothing else changes: no output, no other counter, and the stream's replay window, ROC and key
// lifetime count stay exactly as they were.
#include <gtest/gtest.h>

#include <array>

#include "mpswitch/dataplane/core/pipeline.h"
#include "pipeline_harness.h"

namespace mpswitch::dataplane {
namespace {

using testing::PipelineHarness;
using testing::SenderSpec;

struct StreamSnapshot {
  bool initialized;
  uint64_t highest;
  uint32_t roc;
  uint64_t packets;
  uint64_t accepted;
  std::array<ReplayVerdict, 300> verdicts;
  bool operator==(const StreamSnapshot&) const = default;
};

StreamSnapshot Capture(const StreamRt& rt) {
  StreamSnapshot s{rt.replay.initialized(), rt.replay.highest(), rt.replay.roc(), rt.packets,
                   rt.accepted.load(), {}};
  for (size_t i = 0; i < s.verdicts.size(); ++i) {
    s.verdicts[i] = rt.replay.Check(rt.replay.highest() + 20 - i);
  }
  return s;
}

std::array<uint64_t, kDropCount + 3> CaptureCounters(const WorkerCounters& c) {
  std::array<uint64_t, kDropCount + 3> a{};
  for (size_t i = 0; i < kDropCount; ++i) a[i] = c.drops[i].Get();
  a[kDropCount] = c.accepted.Get();
  a[kDropCount + 1] = c.outputs.Get();
  a[kDropCount + 2] = c.tags_computed.Get();
  return a;
}

class BadInputTest : public ::testing::Test {
 protected:
  BadInputTest() : h_(Specs(), MakeBestMacKernel()) {
    std::vector<std::vector<uint8_t>> warmup;
    for (int i = 0; i < 10; ++i) warmup.push_back(h_.Next(0, 200, 40));
    auto run = h_.Run(warmup);
    EXPECT_EQ(run.result.accepted, 10);
  }

  static std::vector<SenderSpec> Specs() {
    SenderSpec s;
    s.ssrc = 0xD00D;
    s.port = 30000;
    s.trailing = TrailingByte::kAudioActivity;
    s.csrcs = {0x1011};
    s.extension = true;
    s.routes = {{1, CsrcRewrite{1, std::nullopt}}, {2, CsrcRewrite{2, std::nullopt}}};
    return {s};
  }

  // Runs `pkt` alone and checks that exactly `want` happened.
  void ExpectOnlyDrop(std::vector<uint8_t> pkt, Drop want, const std::string& what) {
    SCOPED_TRACE(what);
    const StreamSnapshot before = Capture(h_.worker().stream(0));
    auto counters = CaptureCounters(h_.worker().counters());
    auto run = h_.Run({pkt});
    ASSERT_EQ(run.drops.size(), 1u);
    EXPECT_EQ(run.drops[0], want) << "got " << DropName(run.drops[0]);
    EXPECT_EQ(run.result.accepted, 0);
    EXPECT_EQ(run.result.outputs, 0);
    counters[static_cast<size_t>(want)] += 1;
    EXPECT_EQ(CaptureCounters(h_.worker().counters()), counters);
    EXPECT_TRUE(Capture(h_.worker().stream(0)) == before) << "stream state changed";
  }

  // The stream still works afterwards.
  void ExpectStillAccepting() {
    auto run = h_.Run({h_.Next(0, 300, 50)});
    EXPECT_EQ(run.result.accepted, 1) << DropName(run.drops[0]);
    EXPECT_EQ(run.result.outputs, 2);
    for (auto& o : run.outputs) h_.VerifyOutput(o);
  }

  PipelineHarness h_;
};

TEST_F(BadInputTest, WrongTagAnywhere) {
  const auto good = h_.Next(0, 120, 30);
  // Flip one bit in every byte: header, CSRC, extension, payload, trailing byte, tag.
  for (size_t i = 0; i < good.size(); ++i) {
    auto bad = good;
    bad[i] ^= (i == 0 || i == 1) ? 0x01 : 0x80;  // keep the first two bytes RTP-looking
    Drop want = Drop::kAuthFailed;
    if (i == 0) want = Drop::kExtensionPastEnd;        // CC 1 -> 0 moves the extension header
    if (i >= 8 && i < 12) want = Drop::kUnknownStream;  // SSRC
    if (i == 2) want = Drop::kReplayTooOld;  // SEQ + 32768 just after start: would be ROC -1
    if (i == 18 || i == 19) want = Drop::kExtensionPastEnd;  // extension length field
    ExpectOnlyDrop(bad, want, "byte " + std::to_string(i));
  }
  ExpectStillAccepting();
}

TEST_F(BadInputTest, ReplayDuplicateAndTooOld) {
  const auto p = h_.Next(0, 100, 10);
  const auto old = h_.Next(0, 100, 10);  // never sent until the window has moved on
  ASSERT_EQ(h_.Run({p}).result.accepted, 1);
  ExpectOnlyDrop(p, Drop::kReplayDuplicate, "replay");
  std::vector<std::vector<uint8_t>> many;
  for (int i = 0; i < 130; ++i) many.push_back(h_.Next(0, 60, 1));
  for (size_t at = 0; at < many.size(); at += 32) {
    std::vector<std::vector<uint8_t>> b(many.begin() + at, many.begin() + std::min(at + 32, many.size()));
    ASSERT_EQ(h_.Run(b).result.accepted, b.size());
  }
  ExpectOnlyDrop(old, Drop::kReplayTooOld, "too old");
  ExpectStillAccepting();
}

TEST_F(BadInputTest, DuplicateInsideOneBurst) {
  const auto p = h_.Next(0, 100, 10);
  auto run = h_.Run({p, p, h_.Next(0, 100, 10), p});
  EXPECT_EQ(run.result.accepted, 2);
  EXPECT_EQ(run.drops[0], Drop::kNone);
  EXPECT_EQ(run.drops[1], Drop::kReplayDuplicate);
  EXPECT_EQ(run.drops[2], Drop::kNone);
  EXPECT_EQ(run.drops[3], Drop::kReplayDuplicate);
  EXPECT_EQ(run.outputs.size(), 4u);
}

TEST_F(BadInputTest, TruncatedAtEveryLength) {
  const auto good = h_.Next(0, 40, 7);
  const size_t header = 12 + 4 + 4 + 8;  // fixed + 1 CSRC + extension header + 6 bytes padded to 8
  for (size_t len = 0; len < good.size(); ++len) {
    std::vector<uint8_t> cut(good.begin(), good.begin() + len);
    Drop want;
    const size_t end = len >= 10 ? len - 10 : 0;
    if (len < 22) {
      want = Drop::kTooShort;
    } else if (end < 16) {
      want = Drop::kCsrcPastEnd;
    } else if (end < header) {
      want = Drop::kExtensionPastEnd;
    } else if (end <= header) {
      want = Drop::kNoTrailingByte;
    } else {
      want = Drop::kAuthFailed;
    }
    ExpectOnlyDrop(cut, want, "length " + std::to_string(len));
  }
  ExpectStillAccepting();
}

TEST_F(BadInputTest, MalformedHeaders) {
  const auto good = h_.Next(0, 100, 7);
  auto v3 = good;
  v3[0] = (v3[0] & 0x3f) | 0xc0;
  ExpectOnlyDrop(v3, Drop::kNotMedia, "version 3");
  auto v1 = good;
  v1[0] = (v1[0] & 0x3f) | 0x40;
  ExpectOnlyDrop(v1, Drop::kNotMedia, "version 1");
  auto cc = good;
  cc[0] |= 0x0f;  // 15 CSRCs = 60 bytes, plus extension header: runs into the tag
  cc.resize(12 + 60 + 10 - 4);
  ExpectOnlyDrop(cc, Drop::kCsrcPastEnd, "CSRC count past end");
  auto ext = good;
  StoreBe16(&ext[16 + 2], 0xffff);
  ExpectOnlyDrop(ext, Drop::kExtensionPastEnd, "extension length past end");
  ExpectOnlyDrop({}, Drop::kTooShort, "zero length");
  std::vector<uint8_t> big(kMaxPacketSize + 1, 0);
  std::copy(good.begin(), good.end(), big.begin());
  ExpectOnlyDrop(big, Drop::kOversize, "oversize");
  auto dtls = std::vector<uint8_t>{22, 0xfe, 0xfd, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0};
  ExpectOnlyDrop(dtls, Drop::kNotMedia, "DTLS");
  auto unknown = good;
  StoreBe32(&unknown[8], 0xBADBAD);
  ExpectOnlyDrop(unknown, Drop::kUnknownStream, "unknown SSRC");
  ExpectStillAccepting();
}

TEST(ForgeryTest, ForgedPacketCannotMoveTheRoc) {
  // Near the top of the sequence space a small SEQ is read as the next ROC; a forged packet with
  // one must not advance the ROC, or every genuine packet after it would fail.
  SenderSpec s;
  s.ssrc = 0xF0;
  s.first_seq = 65000;
  s.routes = {{1, std::nullopt}};
  PipelineHarness h({s}, MakeBestMacKernel());
  ASSERT_EQ(h.Run({h.Next(0, 100)}).result.accepted, 1);
  auto forged = h.Next(0, 100);
  StoreBe16(&forged[2], 10);
  auto run = h.Run({forged});
  EXPECT_EQ(run.drops[0], Drop::kAuthFailed);
  EXPECT_EQ(h.worker().stream(0).replay.roc(), 0u);
  EXPECT_EQ(h.worker().stream(0).replay.highest(), 65000u);
  EXPECT_EQ(h.Run({h.Next(0, 100)}).result.accepted, 1);
}

TEST_F(BadInputTest, KeyLifetime) {
  StreamRt& rt = h_.worker().stream(0);
  rt.packets = rt.lifetime_limit - 2;  // as if 2^48 - 2 packets had been accepted
  const uint64_t warnings = h_.worker().counters().key_lifetime_warnings.Get();
  ExpectStillAccepting();
  EXPECT_EQ(h_.worker().counters().key_lifetime_warnings.Get(), warnings + 1);
  ExpectStillAccepting();
  ExpectOnlyDrop(h_.Next(0, 100, 7), Drop::kKeyExhausted, "past 2^48");
}

TEST_F(BadInputTest, OutputBuffersShortOrTooSmall) {
  auto run = h_.Run({h_.Next(0, 100, 7)}, /*out_slots=*/1);
  EXPECT_EQ(run.result.accepted, 1);
  EXPECT_EQ(run.result.outputs, 1);
  EXPECT_EQ(h_.Drops(Drop::kNoOutputBuffer), 1u);
  h_.VerifyOutput(run.outputs[0]);
  run = h_.Run({h_.Next(0, 1000, 7)}, /*out_slots=*/4, /*out_capacity=*/200);
  EXPECT_EQ(run.result.accepted, 1);
  EXPECT_EQ(run.result.outputs, 0);
  EXPECT_EQ(h_.Drops(Drop::kOutputTooSmall), 2u);
}

TEST(BadInputNoCsrcTest, RewriteNeedsACsrc) {
  SenderSpec s;
  s.ssrc = 77;
  s.routes = {{1, CsrcRewrite{3, std::nullopt}}};
  PipelineHarness h({s}, MakeScalarMacKernel());
  auto run = h.Run({h.Next(0, 100)});
  EXPECT_EQ(run.drops[0], Drop::kMissingCsrc);
  EXPECT_EQ(h.Drops(Drop::kMissingCsrc), 1u);
}

TEST(KeyChangeTest, NewSnapshotKeyResetsStreamState) {
  SenderSpec s;
  s.ssrc = 78;
  s.routes = {{1, std::nullopt}};
  PipelineHarness h({s}, MakeScalarMacKernel());
  const auto p = h.Next(0, 100);
  ASSERT_EQ(h.Run({p}).result.accepted, 1);
  // Control re-keys the stream with a different master key: the old sender's packets no longer
  // verify, and replay state starts over for the new key.
  StreamConfig c;
  c.local_port = s.port;
  c.ssrc = s.ssrc;
  c.master.key[0] = 1;
  c.key_epoch = 2;
  c.routes = s.routes;
  auto snap = Snapshot::Build({&c, 1});
  ASSERT_TRUE(snap.ok());
  h.ReplaceSnapshot(std::make_unique<Snapshot>(std::move(*snap)));
  auto run = h.Run({h.Next(0, 100)});
  EXPECT_EQ(run.drops[0], Drop::kAuthFailed);
  EXPECT_EQ(h.worker().stream(0).key_epoch, 2u);
  EXPECT_FALSE(h.worker().stream(0).replay.initialized());
}

}  // namespace
}  // namespace mpswitch::dataplane

namespace mpswitch::dataplane {
namespace {

// A state slot handed to another stream (same epoch number, different key) must not carry the
// previous stream's key, replay window or ROC over.
TEST(SlotReuseTest, AnotherStreamInTheSameSlotStartsClean) {
  SenderSpec a;
  a.ssrc = 0xA;
  a.first_seq = 60000;
  a.routes = {{1, std::nullopt}};
  PipelineHarness h({a}, MakeScalarMacKernel());
  ASSERT_EQ(h.Run({h.Next(0, 50)}).result.accepted, 1);
  const StreamRt& rt = h.worker().stream(0);
  EXPECT_EQ(rt.replay.highest(), 60000u);

  StreamConfig b;
  b.local_port = a.port;
  b.ssrc = 0xB;
  b.master.key[3] = 9;
  b.rt_slot = 0;  // the slot A used
  b.key_epoch = 1;  // the epoch A had
  b.routes = a.routes;
  auto snap = Snapshot::Build({&b, 1});
  ASSERT_TRUE(snap.ok());
  // A packet of A's stream now finds no stream; B's first packet installs B's key afresh.
  h.ReplaceSnapshot(std::make_unique<Snapshot>(std::move(*snap)));
  EXPECT_EQ(h.Run({h.Next(0, 50)}).drops[0], Drop::kUnknownStream);
  oracle::RtpSpec r;
  r.ssrc = 0xB;
  r.seq = 7;
  r.payload = std::vector<uint8_t>(40, 1);
  auto pkt = oracle::BuildRtp(r);
  auto tx = oracle::LibsrtpSession::Sender(b.master, SrtpProfile::kAesCm128HmacSha1_80, 0xB);
  ASSERT_EQ(tx->Protect(pkt), srtp_err_status_ok);
  auto run = h.Run({pkt});
  EXPECT_EQ(run.drops[0], Drop::kNone) << DropName(run.drops[0]);
  EXPECT_EQ(rt.replay.highest(), 7u);
}

TEST(WorkerLimitsTest, BurstOverflowAndMissingSlotAreCounted) {
  SenderSpec s;
  s.ssrc = 0xC;
  s.routes = {{1, std::nullopt}};
  PipelineHarness h({s}, MakeScalarMacKernel());
  // A worker sized for no streams at all.
  WorkerState tiny(0, MakeScalarMacKernel(), /*max_burst=*/2, /*max_outputs=*/8);
  std::vector<std::vector<uint8_t>> in = {h.Next(0, 10), h.Next(0, 10), h.Next(0, 10)};
  std::vector<PacketRef> refs;
  for (auto& p : in) {
    refs.push_back({p.data(), static_cast<uint16_t>(p.size()), static_cast<uint16_t>(p.size()), s.port});
  }
  std::vector<uint8_t> store(8 * 256);
  std::vector<OutPacket> outs(8);
  for (int i = 0; i < 8; ++i) outs[i] = {store.data() + 256 * i, 256};
  auto r = ProcessBurst(h.snapshot(), tiny, refs, outs);
  EXPECT_EQ(r.accepted, 0);
  EXPECT_EQ(refs[0].drop, Drop::kNoStreamState);
  EXPECT_EQ(refs[1].drop, Drop::kNoStreamState);
  EXPECT_EQ(refs[2].drop, Drop::kBurstOverflow);
  EXPECT_EQ(tiny.counters().rx_packets.Get(), 3u);
  EXPECT_EQ(tiny.counters().drops[static_cast<size_t>(Drop::kBurstOverflow)].Get(), 1u);
}

}  // namespace
}  // namespace mpswitch::dataplane
