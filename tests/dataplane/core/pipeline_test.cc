// The switch's output checked by an implementation we did not write: every packet protected by
// libsrtp2 must pass the pipeline, and every packet the pipeline emits must pass libsrtp2's
// srtp_unprotect with the sender's key, with the payload intact and the CSRC as rewritten.
#include "mpswitch/dataplane/core/pipeline.h"

#include <gtest/gtest.h>

#include <set>
#include <string>
#include <tuple>

#include "pipeline_harness.h"

namespace mpswitch::dataplane {
namespace {

using testing::PipelineHarness;
using testing::SenderSpec;

enum class Kernel { kScalar, kMultiBuffer };

std::unique_ptr<MacKernel> MakeKernel(Kernel k) {
  return k == Kernel::kScalar ? MakeScalarMacKernel() : MakeMultiBufferMacKernel();
}

using OracleParam = std::tuple<Kernel, SrtpProfile, bool /*csrc*/, bool /*ext*/, TrailingByte,
                               bool /*roc wrap*/>;

class PipelineOracleTest : public ::testing::TestWithParam<OracleParam> {};

TEST_P(PipelineOracleTest, EveryOutputPassesLibsrtp) {
  const auto [kernel, profile, with_csrc, with_ext, trailing, wrap] = GetParam();
  auto k = MakeKernel(kernel);
  if (!k) GTEST_SKIP() << "no multi-buffer kernel on this build/CPU";

  std::vector<SenderSpec> specs;
  for (uint32_t n = 0; n < 3; ++n) {
    SenderSpec s;
    s.ssrc = 0x1000 + n;
    s.port = static_cast<uint16_t>(16384 + (n % 2));  // two senders share a port, as in TIP
    s.profile = profile;
    s.trailing = trailing;
    s.extension = with_ext;
    s.first_seq = static_cast<uint16_t>(wrap ? 65480 : 1000 * (n + 1));
    if (with_csrc) {
      s.csrcs = {(0xABCDEu << 12) | (uint32_t{n % 3 + 1} << 4) | (n % 3 + 1), 0x77};
      s.routes = {{1, CsrcRewrite{1, std::nullopt}},
                  {2, CsrcRewrite{2, std::nullopt}},
                  {3, CsrcRewrite{3, uint8_t{2}}},
                  {4, CsrcRewrite{2, std::nullopt}}};  // same bytes as egress 2: shares its tag
    } else {
      s.routes = {{1, std::nullopt}, {2, std::nullopt}, {3, std::nullopt}};
    }
    specs.push_back(s);
  }
  PipelineHarness h(specs, std::move(k));
  const size_t routes = specs[0].routes.size();
  const size_t groups = with_csrc ? 3 : 1;

  size_t sent = 0, outputs = 0;
  uint8_t last_activity[3] = {};
  uint32_t refreshes[3] = {};
  for (int burst = 0; burst < 10; ++burst) {
    std::vector<std::vector<uint8_t>> in;
    for (int j = 0; j < 32; ++j) {
      const size_t who = (burst + j) % 3;
      const size_t len = (j % 4 == 0) ? 1 + h.rng()() % 1300 : 160 + j;
      const uint8_t value = static_cast<uint8_t>(h.rng()() % 8);
      in.push_back(h.Next(who, len, value));
      last_activity[who] = value;
      if (value == 1 || value == 2) ++refreshes[who];
    }
    auto run = h.Run(in);
    for (Drop d : run.drops) ASSERT_EQ(d, Drop::kNone) << DropName(d);
    ASSERT_EQ(run.result.accepted, in.size());
    ASSERT_EQ(run.outputs.size(), in.size() * routes);
    for (const auto& o : run.outputs) h.VerifyOutput(o);
    sent += in.size();
    outputs += run.outputs.size();
  }
  EXPECT_EQ(h.verified(), outputs);
  const WorkerCounters& c = h.worker().counters();
  EXPECT_EQ(c.accepted.Get(), sent);
  EXPECT_EQ(c.outputs.Get(), outputs);
  EXPECT_EQ(c.verify_macs.Get(), sent);
  const bool identity = trailing == TrailingByte::kNone && !with_csrc;
  // One MAC per distinct rewritten header; none at all when the output is the verified input.
  // (A sender whose own sink nibble equals a group's may get the identity shortcut when nothing
  // is stripped, so with CSRC and no strip the count is a bound.)
  if (identity) {
    EXPECT_EQ(c.tags_computed.Get(), 0u);
  } else if (trailing != TrailingByte::kNone) {
    EXPECT_EQ(c.tags_computed.Get(), sent * groups);
  } else {
    EXPECT_LE(c.tags_computed.Get(), sent * groups);
    EXPECT_GE(c.tags_computed.Get(), sent * (groups - 1));
  }
  for (size_t i = 0; i < 3; ++i) {
    const StreamRt& rt = h.worker().stream(static_cast<uint32_t>(i));
    if (trailing == TrailingByte::kAudioActivity) {
      EXPECT_EQ(rt.last_activity.load(), last_activity[i]);
    }
    if (trailing == TrailingByte::kVideoRefresh) {
      EXPECT_EQ(rt.refresh_points.load(), refreshes[i]);
    }
    if (wrap) {
      EXPECT_EQ(rt.replay.roc(), 1u) << "stream " << i << " should have crossed a ROC wrap";
    }
  }
}

std::string OracleName(const ::testing::TestParamInfo<OracleParam>& info) {
  const auto [kernel, profile, csrc, ext, trailing, wrap] = info.param;
  std::string n = kernel == Kernel::kScalar ? "Scalar" : "MultiBuffer";
  n += profile == SrtpProfile::kAesCm128HmacSha1_80 ? "_80" : "_32";
  n += csrc ? "_Csrc" : "_NoCsrc";
  n += ext ? "_Ext" : "_NoExt";
  n += trailing == TrailingByte::kNone ? "_NoByte"
       : trailing == TrailingByte::kAudioActivity ? "_Activity" : "_Refresh";
  n += wrap ? "_RocWrap" : "";
  return n;
}

INSTANTIATE_TEST_SUITE_P(
    AllShapes, PipelineOracleTest,
    ::testing::Combine(::testing::Values(Kernel::kScalar, Kernel::kMultiBuffer),
                       ::testing::Values(SrtpProfile::kAesCm128HmacSha1_80,
                                         SrtpProfile::kAesCm128HmacSha1_32),
                       ::testing::Bool(), ::testing::Bool(),
                       ::testing::Values(TrailingByte::kNone, TrailingByte::kAudioActivity,
                                         TrailingByte::kVideoRefresh),
                       ::testing::Bool()),
    OracleName);

// SRTCP: verified against the sender's SRTCP key and forwarded; libsrtp2 accepts every copy.
TEST(PipelineSrtcpTest, ForwardedCopiesPassLibsrtp) {
  std::mt19937_64 rng(9);
  const MasterKey key = oracle::RandomMasterKey(rng);
  auto tx = oracle::LibsrtpSession::Sender(key, SrtpProfile::kAesCm128HmacSha1_80, 0xAA);
  StreamConfig c;
  c.local_port = 20000;
  c.ssrc = 0xAA;
  c.kind = StreamKind::kSrtcp;
  c.master = key;
  c.routes = {{7, std::nullopt}, {8, CsrcRewrite{2, std::nullopt}}};  // RTCP ignores rewrites
  auto snap = Snapshot::Build({&c, 1});
  ASSERT_TRUE(snap.ok()) << snap.status();
  WorkerState w(4, MakeBestMacKernel());

  std::vector<std::vector<uint8_t>> protected_pkts;
  std::vector<std::vector<uint8_t>> plain;
  for (int i = 0; i < 20; ++i) {
    auto sr = oracle::BuildRtcpSenderReport(0xAA, 1000 + i, i % 3);
    plain.push_back(sr);
    ASSERT_EQ(tx->ProtectRtcp(sr), srtp_err_status_ok);
    protected_pkts.push_back(sr);
  }
  auto rx7 = oracle::LibsrtpSession::Receiver(key, SrtpProfile::kAesCm128HmacSha1_80);
  auto rx8 = oracle::LibsrtpSession::Receiver(key, SrtpProfile::kAesCm128HmacSha1_80);
  for (int i = 0; i < 20; ++i) {
    std::vector<uint8_t> in = protected_pkts[i];
    PacketRef ref{in.data(), static_cast<uint16_t>(in.size()), static_cast<uint16_t>(in.size()),
                  20000};
    std::vector<uint8_t> b1(1500), b2(1500);
    OutPacket outs[2] = {{b1.data(), 1500}, {b2.data(), 1500}};
    auto r = ProcessBurst(*snap, w, {&ref, 1}, outs);
    ASSERT_EQ(r.accepted, 1) << DropName(ref.drop);
    ASSERT_EQ(r.outputs, 2);
    EXPECT_EQ(outs[0].egress, 7u);
    EXPECT_EQ(outs[1].egress, 8u);
    std::vector<uint8_t> o1(b1.data(), b1.data() + outs[0].len), o2(b2.data(), b2.data() + outs[1].len);
    ASSERT_EQ(rx7->UnprotectRtcp(o1), srtp_err_status_ok);
    ASSERT_EQ(rx8->UnprotectRtcp(o2), srtp_err_status_ok);
    EXPECT_EQ(o1, plain[i]);
    EXPECT_EQ(o2, plain[i]);
  }
  // Replaying an SRTCP packet is caught by the SRTCP index window.
  std::vector<uint8_t> again = protected_pkts[5];
  PacketRef ref{again.data(), static_cast<uint16_t>(again.size()), static_cast<uint16_t>(again.size()),
                20000};
  std::vector<uint8_t> b(1500);
  OutPacket o{b.data(), 1500};
  auto r = ProcessBurst(*snap, w, {&ref, 1}, {&o, 1});
  EXPECT_EQ(r.accepted, 0);
  EXPECT_EQ(ref.drop, Drop::kReplayDuplicate);
  EXPECT_EQ(w.counters().drops[static_cast<size_t>(Drop::kReplayDuplicate)].Get(), 1u);
  // SRTCP's 2^31 lifetime has its own warning margin: ordinary traffic raises no warning.
  EXPECT_EQ(w.counters().key_lifetime_warnings.Get(), 0u);
}

// Accepted packets first, in arrival order; failed ones after, with their reasons.
TEST(PipelineContractTest, FailedPacketsMoveToTheTail) {
  SenderSpec s;
  s.ssrc = 5;
  s.routes = {{1, std::nullopt}};
  PipelineHarness h({s}, MakeScalarMacKernel());
  std::vector<std::vector<uint8_t>> in;
  for (int i = 0; i < 6; ++i) in.push_back(h.Next(0, 100));
  in[1][20] ^= 0x40;     // forged payload
  in[4] = {22, 0xfe, 1};  // a DTLS record: not for the fast path
  std::vector<PacketRef> refs(in.size());
  for (size_t i = 0; i < in.size(); ++i) {
    refs[i] = {in[i].data(), static_cast<uint16_t>(in[i].size()), static_cast<uint16_t>(in[i].size()),
               s.port, Drop::kNone, reinterpret_cast<void*>(i)};
  }
  std::vector<uint8_t> store(8 * 2048);
  std::vector<OutPacket> outs(8);
  for (int i = 0; i < 8; ++i) outs[i] = {store.data() + 2048 * i, 2048};
  auto r = ProcessBurst(h.snapshot(), h.worker(), refs, outs);
  ASSERT_EQ(r.accepted, 4);
  const size_t order[] = {0, 2, 3, 5, 1, 4};
  for (size_t i = 0; i < 6; ++i) EXPECT_EQ(reinterpret_cast<size_t>(refs[i].user), order[i]);
  EXPECT_EQ(refs[4].drop, Drop::kAuthFailed);
  EXPECT_EQ(refs[5].drop, Drop::kNotMedia);
  for (uint16_t i = 0; i < r.outputs; ++i) EXPECT_EQ(outs[i].source, i);
}

}  // namespace
}  // namespace mpswitch::dataplane
