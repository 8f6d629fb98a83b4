// EKT end to end at the library level: three senders with their own keys under one KEK, switched
// by the dataplane with CSRC rewrite and byte strip; receivers that start with only the KEK learn
// every key from the switch's output and libsrtp2 decrypts every packet with the learned key.
#include <gtest/gtest.h>

#include <map>
#include <random>
#include <tuple>

#include "mpswitch/dataplane/core/packet.h"
#include "mpswitch/dataplane/core/pipeline.h"
#include "mpswitch/ekt/endpoint.h"
#include "mpswitch/oracle/libsrtp_oracle.h"

namespace mpswitch::ekt {
namespace {

using dataplane::Drop;
using dataplane::LoadBe16;
using dataplane::LoadBe32;
using dataplane::SrtpProfile;

GroupParams Group(EktFormat f, EktCipher c, bool tag_32, uint16_t spi, std::mt19937_64& rng) {
  GroupParams g;
  g.spi = spi;
  g.format = f;
  g.cipher = c;
  g.tag_32 = tag_32;
  g.kek.resize(c == EktCipher::kAesKwp256 ? 32 : 16);
  for (auto& b : g.kek) b = static_cast<uint8_t>(rng());
  for (auto& b : g.salt) b = static_cast<uint8_t>(rng());
  return g;
}

struct Meeting {
  GroupParams group;
  std::vector<std::unique_ptr<EktSender>> senders;
  std::vector<uint16_t> seq;
  std::unique_ptr<dataplane::Snapshot> snap;
  std::unique_ptr<dataplane::WorkerState> worker;
  std::map<std::pair<uint32_t, uint16_t>, std::vector<uint8_t>> sent;  // plaintext RTP
  std::mt19937_64 rng{5};

  Meeting(GroupParams g, uint16_t first_seq) : group(std::move(g)) {
    std::vector<dataplane::StreamConfig> cfgs;
    for (uint32_t i = 0; i < 3; ++i) {
      auto s = EktSender::Create(group, 0x100 + i, /*video=*/i == 0);
      EXPECT_TRUE(s.ok()) << s.status();
      senders.push_back(std::move(*s));
      seq.push_back(static_cast<uint16_t>(first_seq + 1000 * i));
      dataplane::StreamConfig c;
      c.local_port = 20000;
      c.ssrc = 0x100 + i;
      c.profile = group.tag_32 ? SrtpProfile::kAesCm128HmacSha1_32 : SrtpProfile::kAesCm128HmacSha1_80;
      c.trailer = group.format == EktFormat::kInTag ? dataplane::TrailerFormat::kEktInTag
                                                    : dataplane::TrailerFormat::kEktRfc8870;
      c.ekt_spi = group.spi;
      c.trailing = i == 0 ? dataplane::TrailingByte::kVideoRefresh : dataplane::TrailingByte::kAudioActivity;
      c.rt_slot = i;
      c.routes = {{1, dataplane::CsrcRewrite{1, std::nullopt}}, {2, dataplane::CsrcRewrite{3, uint8_t{1}}}};
      cfgs.push_back(c);
    }
    auto s = dataplane::Snapshot::Build(cfgs, {&group, 1});
    EXPECT_TRUE(s.ok()) << s.status();
    snap = std::make_unique<dataplane::Snapshot>(std::move(*s));
    worker = std::make_unique<dataplane::WorkerState>(8, dataplane::MakeBestMacKernel());
  }

  std::vector<uint8_t> Next(size_t i, int n) {
    oracle::RtpSpec r;
    r.ssrc = 0x100 + static_cast<uint32_t>(i);
    r.seq = seq[i]++;
    r.csrcs = {(0x777u << 12) | 0x22};
    r.payload = oracle::RandomBytes(rng, i == 0 ? 900 + rng() % 300 : 160);
    auto plain = oracle::BuildRtp(r);
    sent[{r.ssrc, r.seq}] = plain;
    return senders[i]->Protect(plain, static_cast<uint8_t>(n % 5), /*frame_start=*/n % 4 == 0);
  }

  dataplane::BurstResult Switch(std::vector<std::vector<uint8_t>>& in,
                                std::vector<std::pair<uint32_t, std::vector<uint8_t>>>& outputs) {
    std::vector<dataplane::PacketRef> refs(in.size());
    for (size_t i = 0; i < in.size(); ++i) {
      const size_t len = in[i].size();
      in[i].resize(len + 4);  // receive buffers have tailroom (the in-tag ROC is staged there)
      refs[i] = {in[i].data(), static_cast<uint16_t>(len), static_cast<uint16_t>(len + 4), 20000};
    }
    std::vector<uint8_t> store(in.size() * 2 * 2048);
    std::vector<dataplane::OutPacket> outs(in.size() * 2);
    for (size_t i = 0; i < outs.size(); ++i) outs[i] = {store.data() + 2048 * i, 2048};
    auto r = dataplane::ProcessBurst(*snap, *worker, refs, outs);
    for (size_t i = 0; i < r.outputs; ++i) {
      outputs.push_back({outs[i].egress, {outs[i].data, outs[i].data + outs[i].len}});
    }
    return r;
  }
};

using E2eParam = std::tuple<EktFormat, EktCipher, bool /*tag_32*/>;
class EktEndToEndTest : public ::testing::TestWithParam<E2eParam> {};

void ReceiversDecryptEverything(EktFormat format, EktCipher cipher, bool tag_32, uint16_t first_seq) {
  std::mt19937_64 rng(1);
  Meeting m(Group(format, cipher, tag_32, 77, rng), first_seq);
  GroupTable table;
  ASSERT_TRUE(table.Create(m.group).ok());
  std::map<uint32_t, std::unique_ptr<EktReceiver>> rx;  // per egress: KEK only
  std::map<std::pair<uint32_t, uint32_t>, std::unique_ptr<oracle::LibsrtpSession>> lib;
  std::map<std::pair<uint32_t, uint32_t>, dataplane::MasterKey> lib_key;
  const SrtpProfile profile = tag_32 ? SrtpProfile::kAesCm128HmacSha1_32 : SrtpProfile::kAesCm128HmacSha1_80;
  for (uint32_t e : {1u, 2u}) rx[e] = std::make_unique<EktReceiver>(table, format, tag_32);

  size_t decrypted = 0, sent = 0;
  for (int burst = 0; burst < 20; ++burst) {
    std::vector<std::vector<uint8_t>> in;
    for (int j = 0; j < 24; ++j) {
      // Key changes in the middle of a burst: packets under the old and the new key share it.
      if (burst == 8 && j == 10) ASSERT_TRUE(m.senders[0]->ChangeKey().ok());
      if (burst == 12 && j == 5) ASSERT_TRUE(m.senders[2]->ChangeKey().ok());
      in.push_back(m.Next(j % 3, burst * 24 + j));
    }
    sent += in.size();
    std::vector<std::pair<uint32_t, std::vector<uint8_t>>> outputs;
    auto r = m.Switch(in, outputs);
    if (r.accepted != in.size()) {
      for (size_t d = 1; d < dataplane::kDropCount; ++d) {
        if (auto n = m.worker->counters().drops[d].Get()) ADD_FAILURE() << dataplane::kDropInfo[d].name << " " << n;
      }
    }
    ASSERT_EQ(r.accepted, in.size()) << "burst " << burst;
    ASSERT_EQ(outputs.size(), 2 * in.size());
    for (auto& [egress, bytes] : outputs) {
      auto got = rx[egress]->Receive(bytes);
      ASSERT_TRUE(got.ok()) << got.status() << " burst " << burst;
      const std::pair<uint32_t, uint32_t> k{egress, got->ssrc};
      auto& session = lib[k];
      if (!session) {
        session = oracle::LibsrtpSession::Receiver(got->master, profile);
      } else if (lib_key[k].key != got->master.key) {
        ASSERT_EQ(session->UpdateKey(got->master, profile, got->ssrc), srtp_err_status_ok);
      }
      lib_key[k] = got->master;
      std::vector<uint8_t> plain = got->srtp;
      ASSERT_EQ(session->Unprotect(plain), srtp_err_status_ok);
      auto want = m.sent.at({got->ssrc, LoadBe16(&plain[2])});
      dataplane::StoreBe32(&want[12], egress == 1 ? (0x777u << 12) | 0x21 : (0x777u << 12) | 0x123);
      ASSERT_EQ(plain, want);
      ++decrypted;
    }
  }
  EXPECT_EQ(decrypted, 2 * sent);
  const auto& c = m.worker->counters();
  EXPECT_EQ(c.accepted.Get(), sent);
  EXPECT_EQ(c.ekt_keys_learned.Get(), 5u);  // three first keys, two changes
  EXPECT_EQ(m.worker->stream(0).replay.roc(), 1u);
}

TEST_P(EktEndToEndTest, ReceiversWithOnlyTheKekDecryptEverything) {
  const auto [format, cipher, tag_32] = GetParam();
  ReceiversDecryptEverything(format, cipher, tag_32, /*first_seq=*/65420);
}

// The video stream wraps within the burst that first announces its key: the in-tag long form
// after the wrap carries the next ROC under the same EMK (found by the endpoint simulator).
TEST_P(EktEndToEndTest, KeyLearnedInTheBurstOfAWrap) {
  const auto [format, cipher, tag_32] = GetParam();
  ReceiversDecryptEverything(format, cipher, tag_32, /*first_seq=*/65533);
}

// The seed guide's SRTCP SDES packets carry the long form: a receiver with only the KEK learns the
// sender's key from one, and libsrtp2 decrypts the SRTCP with the learned key.
TEST_P(EktEndToEndTest, SrtcpSdesCarriesTheKey) {
  const auto [format, cipher, tag_32] = GetParam();
  std::mt19937_64 rng(2);
  GroupParams g = Group(format, cipher, tag_32, 12, rng);
  auto sender = EktSender::Create(g, 0xABC, false);
  ASSERT_TRUE(sender.ok());
  GroupTable table;
  ASSERT_TRUE(table.Create(g).ok());
  EktReceiver rx(table, format, tag_32);
  for (int i = 0; i < 3; ++i) {
    auto sr = oracle::BuildRtcpSenderReport(0xABC, 100 + i, 1);
    std::vector<uint8_t> sdes = {0x81, 202, 0, 3, 0, 0, 0x0A, 0xBC, 1, 3, 'a', 'b', 'c', 0, 0, 0};
    sr.insert(sr.end(), sdes.begin(), sdes.end());
    auto srtcp = (*sender)->ProtectRtcp(sr);
    auto got = rx.ReceiveRtcp(srtcp);
    ASSERT_TRUE(got.ok()) << got.status();
    EXPECT_EQ(got->master.key, (*sender)->master().key);
    auto lib = oracle::LibsrtpSession::Receiver(got->master, SrtpProfile::kAesCm128HmacSha1_80);
    std::vector<uint8_t> plain = got->srtp;
    ASSERT_EQ(lib->UnprotectRtcp(plain), srtp_err_status_ok);
    EXPECT_EQ(plain, sr);
    if (i == 1) ASSERT_TRUE((*sender)->ChangeKey().ok());
  }
}

// A receiving endpoint refuses a genuine packet sent again, and one older than its replay window
// (found by fuzzing the simulator's receiver: the window was updated without being checked).
TEST_P(EktEndToEndTest, ReceiverRefusesReplaysAndPacketsBelowTheWindow) {
  const auto [format, cipher, tag_32] = GetParam();
  std::mt19937_64 rng(3);
  GroupParams g = Group(format, cipher, tag_32, 13, rng);
  auto sender = EktSender::Create(g, 0xDEF, false);
  ASSERT_TRUE(sender.ok());
  GroupTable table;
  ASSERT_TRUE(table.Create(g).ok());
  EktReceiver rx(table, format, tag_32);
  std::vector<std::vector<uint8_t>> sent;
  for (int i = 0; i < 400; ++i) {
    oracle::RtpSpec r;
    r.ssrc = 0xDEF;
    r.seq = static_cast<uint16_t>(1000 + i);
    r.payload.assign(40, static_cast<uint8_t>(i));
    sent.push_back((*sender)->Protect(oracle::BuildRtp(r), std::nullopt, false));
  }
  for (int i = 0; i < 300; ++i) ASSERT_TRUE(rx.Receive(sent[i]).ok()) << i;
  EXPECT_FALSE(rx.Receive(sent[299]).ok());  // the same packet again
  EXPECT_FALSE(rx.Receive(sent[3]).ok());    // long form, far below the window
  EXPECT_FALSE(rx.Receive(sent[100]).ok());
  EXPECT_TRUE(rx.Receive(sent[300]).ok());   // and the stream carries on
}

std::string Name(const ::testing::TestParamInfo<E2eParam>& i) {
  const auto [f, c, t32] = i.param;
  return std::string(EktFormatName(f)) + "_" + std::string(EktCipherName(c)) + (t32 ? "_32" : "_80");
}

INSTANTIATE_TEST_SUITE_P(
    Formats, EktEndToEndTest,
    ::testing::Values(E2eParam{EktFormat::kInTag, EktCipher::kAes128Ecb, false},
                      E2eParam{EktFormat::kInTag, EktCipher::kAes128Ecb, true},
                      E2eParam{EktFormat::kInTag, EktCipher::kAesKw128, false},
                      E2eParam{EktFormat::kInTag, EktCipher::kAesKw128, true},
                      E2eParam{EktFormat::kRfc8870, EktCipher::kAesKwp128, false},
                      E2eParam{EktFormat::kRfc8870, EktCipher::kAesKwp256, false},
                      E2eParam{EktFormat::kRfc8870, EktCipher::kAesKwp128, true}),
    Name);

}  // namespace
}  // namespace mpswitch::ekt
