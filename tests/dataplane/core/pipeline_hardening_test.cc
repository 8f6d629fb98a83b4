// Key learning and stream state under attack: each test is one way a meeting member, a former
// member or someone on the path could take a stream over or kill it, and shows that the dataplane
// refuses it by name while the genuine sender's packets keep flowing.
#include <gtest/gtest.h>

#include <cstring>
#include <random>

#include "fake_clock.h"
#include "mpswitch/dataplane/core/packet.h"
#include "mpswitch/dataplane/core/pipeline.h"
#include "mpswitch/ekt/endpoint.h"
#include "mpswitch/oracle/libsrtp_oracle.h"

namespace mpswitch::dataplane {
namespace {

using ekt::EktCipher;
using ekt::EktFormat;
using ekt::EktSender;
using ekt::GroupParams;

constexpr uint32_t kSsrc = 0xE1;
constexpr uint16_t kPort = 4100;
const IpAddr kLeg = IpAddr::FromV4(0x7f000005);
constexpr uint16_t kLegPort = 30000;

using testing::FakeClock;

GroupParams Group(uint16_t spi, EktFormat f, uint8_t fill) {
  GroupParams g;
  g.spi = spi;
  g.format = f;
  g.cipher = f == EktFormat::kInTag ? EktCipher::kAes128Ecb : EktCipher::kAesKwp128;
  g.kek.assign(16, fill);
  g.salt.fill(static_cast<uint8_t>(fill + 1));
  return g;
}

// Recomputes the base tag of an in-tag EKT packet after its fields were edited, as a holder of the
// sender key `master` could: the tag covers the packet with the base tag zeroed, then the ROC.
void ReTagInTag(std::vector<uint8_t>& p, const MasterKey& master, size_t trailer_len,
                uint32_t roc) {
  auto keys = DeriveSessionKeys(master, KeyUse::kSrtp);
  ASSERT_TRUE(keys.ok());
  const HmacSha1Key k = HmacSha1Key::FromKey(keys->auth);
  const size_t tag_at = p.size() - trailer_len;
  std::vector<uint8_t> in = p;
  std::memset(in.data() + tag_at, 0, 10);
  in.push_back(static_cast<uint8_t>(roc >> 24));
  in.push_back(static_cast<uint8_t>(roc >> 16));
  in.push_back(static_cast<uint8_t>(roc >> 8));
  in.push_back(static_cast<uint8_t>(roc));
  uint8_t mac[20];
  HmacSha1(k, in, mac);
  std::memcpy(p.data() + tag_at, mac, 10);
}

class HardeningTest : public ::testing::Test {
 protected:
  // The stream belongs to meeting A (SPI 5); meeting B (SPI 6) is another meeting on the switch.
  void Build(EktFormat f, SourcePolicy policy = SourcePolicy::kAny, uint32_t key_epoch = 1) {
    format_ = f;
    a_ = Group(5, f, 0x3c);
    b_ = Group(6, f, 0x4d);
    StreamConfig cfg;
    cfg.local_port = kPort;
    cfg.ssrc = kSsrc;
    cfg.trailer = f == EktFormat::kInTag ? TrailerFormat::kEktInTag : TrailerFormat::kEktRfc8870;
    cfg.trailing = TrailingByte::kAudioActivity;
    cfg.routes = {{1, CsrcRewrite{2, std::nullopt}}};
    cfg.ekt_spi = a_.spi;
    cfg.key_epoch = key_epoch;
    cfg.source_policy = policy;
    if (policy == SourcePolicy::kSignalled) {
      cfg.source = kLeg;
      cfg.source_port = kLegPort;
    }
    const GroupParams groups[] = {a_, b_};
    auto snap = Snapshot::Build({&cfg, 1}, groups);
    ASSERT_TRUE(snap.ok()) << snap.status();
    snap_ = std::make_unique<Snapshot>(std::move(*snap));
    if (!worker_) {
      worker_ = std::make_unique<WorkerState>(4, MakeBestMacKernel());
      worker_->SetClock(&FakeClock::Now);
      FakeClock::ms = 100000;
    }
  }

  std::unique_ptr<EktSender> Sender(const GroupParams& g,
                                    std::optional<MasterKey> key = std::nullopt) {
    auto s = EktSender::Create(g, kSsrc, /*video=*/false, key);
    EXPECT_TRUE(s.ok()) << s.status();
    return s.ok() ? std::move(*s) : nullptr;
  }

  std::vector<uint8_t> Next(EktSender& s) {
    oracle::RtpSpec r;
    r.ssrc = kSsrc;
    r.seq = seq_++;
    r.csrcs = {0x11};
    r.payload = std::vector<uint8_t>(120, static_cast<uint8_t>(r.seq));
    return s.Protect(oracle::BuildRtp(r), 30, false);
  }
  // The next packet carrying a long / full EKT field (the ones between are sent, and lost).
  std::vector<uint8_t> NextLong(EktSender& s) {
    auto p = Next(s);
    while (!Announces(p)) p = Next(s);
    return p;
  }
  bool Announces(const std::vector<uint8_t>& p) const {
    return format_ == EktFormat::kInTag ? (p.back() & 1) != 0
                                        : p.back() == ekt::kRfc8870TypeFull;
  }

  std::vector<Drop> Burst(std::vector<std::vector<uint8_t>> pkts, IpAddr from = kLeg,
                          uint16_t from_port = kLegPort) {
    std::vector<PacketRef> refs(pkts.size());
    for (size_t i = 0; i < pkts.size(); ++i) {
      const size_t len = pkts[i].size();
      pkts[i].resize(len + 4);  // tailroom for the in-tag ROC
      refs[i] = PacketRef{pkts[i].data(), static_cast<uint16_t>(len),
                          static_cast<uint16_t>(len + 4), kPort};
      refs[i].user = reinterpret_cast<void*>(i);
      refs[i].from = from;
      refs[i].from_port = from_port;
    }
    std::vector<std::vector<uint8_t>> store(pkts.size(), std::vector<uint8_t>(2048));
    std::vector<OutPacket> outs(pkts.size());
    for (size_t i = 0; i < outs.size(); ++i) outs[i] = OutPacket{store[i].data(), 2048};
    ProcessBurst(*snap_, *worker_, refs, outs);
    std::vector<Drop> drops(pkts.size());
    for (const PacketRef& r : refs) drops[reinterpret_cast<size_t>(r.user)] = r.drop;
    return drops;
  }
  Drop Run(std::vector<uint8_t> p, IpAddr from = kLeg, uint16_t from_port = kLegPort) {
    return Burst({std::move(p)}, from, from_port)[0];
  }

  const StreamRt& rt() const { return worker_->stream(0); }
  uint64_t Count(Drop d) const { return worker_->counters().drops[static_cast<size_t>(d)].Get(); }
  uint64_t Learned() const { return worker_->counters().ekt_keys_learned.Get(); }
  std::vector<uint8_t> KeyState() const {
    std::vector<uint8_t> v(sizeof(HmacSha1Key));
    std::memcpy(v.data(), &rt().key, sizeof(HmacSha1Key));
    v.insert(v.end(), rt().emk.begin(), rt().emk.begin() + rt().emk_len);
    return v;
  }

  EktFormat format_ = EktFormat::kInTag;
  GroupParams a_, b_;
  std::unique_ptr<Snapshot> snap_;
  std::unique_ptr<WorkerState> worker_;
  uint16_t seq_ = 500;
};

// Finding 1: a member of meeting B, who knows only B's KEK, announces its own key on a stream of
// meeting A. The stream accepts its own meeting's group only.
TEST_F(HardeningTest, AnnouncementUnderAnotherMeetingsGroupIsRefused) {
  for (EktFormat f : {EktFormat::kInTag, EktFormat::kRfc8870}) {
    SCOPED_TRACE(ekt::EktFormatName(f));
    worker_.reset();
    Build(f);
    auto genuine = Sender(a_);
    for (int i = 0; i < 3; ++i) ASSERT_EQ(Run(Next(*genuine)), Drop::kNone);
    const auto before = KeyState();
    const uint64_t highest = rt().replay.highest();
    auto intruder = Sender(b_);
    for (int i = 0; i < 3; ++i) {
      auto p = Next(*intruder);
      ASSERT_TRUE(Announces(p));
      EXPECT_EQ(Run(p), Drop::kEktForeignSpi);
    }
    EXPECT_EQ(KeyState(), before);
    EXPECT_EQ(rt().replay.highest(), highest);
    EXPECT_EQ(Count(Drop::kEktForeignSpi), 3u);
    for (int i = 0; i < 4; ++i) EXPECT_EQ(Run(Next(*genuine)), Drop::kNone);
  }
}

// Finding 2: a holder of the meeting's KEK announces its own key with a ROC far ahead. Before,
// one such packet set the stream's index to ROC 0x00ffffff and the genuine sender's packets were
// too old from then on.
TEST_F(HardeningTest, FieldRocFarAheadOfARunningStreamIsRefused) {
  Build(EktFormat::kInTag);
  auto genuine = Sender(a_);
  for (int i = 0; i < 4; ++i) ASSERT_EQ(Run(Next(*genuine)), Drop::kNone);
  const uint64_t highest = rt().replay.highest();
  auto member = Sender(a_);
  auto p = NextLong(*member);
  const size_t trailer = 10 + 16 + 8;
  const uint32_t roc = 0x00ffffff;
  p[p.size() - 8] = static_cast<uint8_t>(roc >> 24);
  p[p.size() - 7] = static_cast<uint8_t>(roc >> 16);
  p[p.size() - 6] = static_cast<uint8_t>(roc >> 8);
  p[p.size() - 5] = static_cast<uint8_t>(roc);
  ReTagInTag(p, member->master(), trailer, roc);
  EXPECT_EQ(Run(p), Drop::kEktRocOutOfRange);
  EXPECT_EQ(rt().replay.highest(), highest);
  // Even a second later: 2^24 ROCs are more than any sender sends in a second.
  FakeClock::ms += 1000;
  EXPECT_EQ(Run(p), Drop::kEktRocOutOfRange);
  for (int i = 0; i < 4; ++i) EXPECT_EQ(Run(Next(*genuine)), Drop::kNone);
  EXPECT_EQ(rt().replay.roc(), 0u);
}

// Finding 2: whoever still holds the previous key (a former member unwrapped it with the KEK it
// had) replays its EMK in packets it protects at new indices. The previous key serves only what
// came before its successor.
TEST_F(HardeningTest, PreviousKeyCannotBeUsedAtNewIndices) {
  for (EktFormat f : {EktFormat::kInTag, EktFormat::kRfc8870}) {
    SCOPED_TRACE(ekt::EktFormatName(f));
    worker_.reset();
    seq_ = 500;
    Build(f);
    auto genuine = Sender(a_);
    for (int i = 0; i < 6; ++i) ASSERT_EQ(Run(Next(*genuine)), Drop::kNone);
    const MasterKey old_key = genuine->master();
    ASSERT_TRUE(genuine->ChangeKey().ok());
    for (int i = 0; i < 6; ++i) ASSERT_EQ(Run(Next(*genuine)), Drop::kNone);
    ASSERT_TRUE(rt().has_prev);
    const uint64_t highest = rt().replay.highest();
    // Same key, same group: the same EMK (and for RFC 8870 the same ciphertext at this ROC).
    auto former = Sender(a_, old_key);
    const uint16_t resume = seq_;
    seq_ += 1000;  // far enough ahead that the genuine packets would fall below the window
    for (int i = 0; i < 3; ++i) {
      auto p = Next(*former);
      ASSERT_TRUE(Announces(p));
      EXPECT_EQ(Run(p), Drop::kEktStaleKey);
    }
    EXPECT_EQ(rt().replay.highest(), highest);
    seq_ = resume;
    for (int i = 0; i < 6; ++i) EXPECT_EQ(Run(Next(*genuine)), Drop::kNone);
  }
}

// Finding 3: a stream admitted again (a new key epoch from control) starts clean: the rejoining
// endpoint at ROC 0 and a low sequence number is accepted at once, and nothing of the departed
// owner's key survives.
TEST_F(HardeningTest, ReadmittedStreamStartsClean) {
  Build(EktFormat::kInTag, SourcePolicy::kAny, /*key_epoch=*/1);
  auto first = Sender(a_);
  seq_ = 60000;
  for (int i = 0; i < 6; ++i) ASSERT_EQ(Run(Next(*first)), Drop::kNone);
  ASSERT_TRUE(first->ChangeKey().ok());
  for (int i = 0; i < 6; ++i) ASSERT_EQ(Run(Next(*first)), Drop::kNone);
  ASSERT_TRUE(rt().has_prev);
  const uint16_t first_seq = seq_;

  Build(EktFormat::kInTag, SourcePolicy::kAny, /*key_epoch=*/2);
  auto second = Sender(a_);
  seq_ = 10;
  for (int i = 0; i < 6; ++i) EXPECT_EQ(Run(Next(*second)), Drop::kNone);
  EXPECT_EQ(rt().key_epoch, 2u);
  EXPECT_FALSE(rt().has_prev);
  const HmacSha1Key zero{};
  EXPECT_EQ(std::memcmp(&rt().prev_key, &zero, sizeof(zero)), 0) << "previous key not wiped";
  // The departed owner's short forms are no longer accepted: its key and index were forgotten.
  seq_ = first_seq;
  auto p = Next(*first);
  while (Announces(p)) p = Next(*first);
  const uint64_t accepted = rt().accepted.load();
  EXPECT_NE(Run(p), Drop::kNone);
  EXPECT_EQ(rt().accepted.load(), accepted);
}

// Finding 4: the RFC 8870 epoch is in clear, outside the tag and the key wrap. Rewriting it on the
// first packet of a new key must not make the sender's later key changes look like rollbacks.
TEST_F(HardeningTest, ForgedRfc8870EpochDoesNotBlockLaterKeyChanges) {
  Build(EktFormat::kRfc8870);
  auto genuine = Sender(a_);
  for (int i = 0; i < 3; ++i) ASSERT_EQ(Run(Next(*genuine)), Drop::kNone);
  ASSERT_TRUE(genuine->ChangeKey().ok());  // epoch 1
  auto p = Next(*genuine);
  ASSERT_TRUE(Announces(p));
  p[p.size() - 5] = 0x40;  // epoch 0x4001
  p[p.size() - 4] = 0x01;
  EXPECT_EQ(Run(p), Drop::kNone);
  EXPECT_EQ(Learned(), 2u);
  for (int i = 0; i < 5; ++i) ASSERT_EQ(Run(Next(*genuine)), Drop::kNone);
  ASSERT_TRUE(genuine->ChangeKey().ok());  // epoch 2, "older" than the forged one
  for (int i = 0; i < 6; ++i) EXPECT_EQ(Run(Next(*genuine)), Drop::kNone);
  EXPECT_EQ(Learned(), 3u);
}

// The guard that keeps a verified packet of an older key from rolling the stream back: a late
// long form of the key two changes ago arrives inside the replay window. It is genuine and is
// forwarded, but the stream keeps its current key.
TEST_F(HardeningTest, LateAnnouncementOfAnOlderKeyIsNotInstalled) {
  for (EktFormat f : {EktFormat::kInTag, EktFormat::kRfc8870}) {
    SCOPED_TRACE(ekt::EktFormatName(f));
    worker_.reset();
    seq_ = 500;
    Build(f);
    auto s = Sender(a_);
    std::vector<std::vector<uint8_t>> a, b, c;
    for (int i = 0; i < 6; ++i) a.push_back(Next(*s));
    ASSERT_TRUE(s->ChangeKey().ok());
    for (int i = 0; i < 6; ++i) b.push_back(Next(*s));
    ASSERT_TRUE(s->ChangeKey().ok());
    for (int i = 0; i < 6; ++i) c.push_back(Next(*s));
    // Hold back one announcement of the first key.
    size_t held = 5;
    while (!Announces(a[held])) --held;
    ASSERT_GT(held, 0u);
    for (size_t i = 0; i < a.size(); ++i) {
      if (i != held) ASSERT_EQ(Run(a[i]), Drop::kNone);
    }
    for (auto& p : b) ASSERT_EQ(Run(p), Drop::kNone);
    for (auto& p : c) ASSERT_EQ(Run(p), Drop::kNone);
    const auto before = KeyState();
    EXPECT_EQ(Run(a[held]), Drop::kNone);
    EXPECT_EQ(KeyState(), before);
    auto next = Next(*s);
    while (Announces(next)) next = Next(*s);
    EXPECT_EQ(Run(next), Drop::kNone) << "the current key must still verify short forms";
  }
}

// Finding 6: junk among the announcements of a new key in one burst. Before, the first announcer
// claimed the burst's pending key unverified: its junk key made the genuine short forms after it
// fail, or its forged ISN was installed.
TEST_F(HardeningTest, JunkAnnouncerInABurstClaimsNothing) {
  std::mt19937 rng(7);
  // Junk at the head of the burst, or right after the genuine announcements (before the short
  // forms that need their key); a copy of the genuine EMK with a forged ISN, or a random EMK.
  for (int variant = 0; variant < 4; ++variant) {
    const bool copy_emk = variant % 2 == 0;
    const bool at_head = variant < 2;
    SCOPED_TRACE(::testing::Message() << (copy_emk ? "genuine EMK, forged ISN" : "random EMK")
                                      << (at_head ? " at the head" : " before the short forms"));
    worker_.reset();
    seq_ = 500;
    Build(EktFormat::kInTag);
    auto s = Sender(a_);
    for (int i = 0; i < 6; ++i) ASSERT_EQ(Run(Next(*s)), Drop::kNone);
    ASSERT_TRUE(s->ChangeKey().ok());
    const uint16_t isn = seq_;
    std::vector<std::vector<uint8_t>> burst;
    for (int i = 0; i < 8; ++i) burst.push_back(Next(*s));
    // Else just before the first short form, which needs the key the announcements before it
    // carry.
    size_t at = 0;
    if (!at_head) {
      while (at < burst.size() && Announces(burst[at])) ++at;
      ASSERT_TRUE(at > 0 && at < burst.size());
    }
    std::vector<uint8_t> junk = burst[0];
    if (copy_emk) {
      junk[junk.size() - 3] ^= 0x10;  // the ISN
    } else {
      for (size_t i = 0; i < 16; ++i) junk[junk.size() - 8 - 16 + i] = static_cast<uint8_t>(rng());
    }
    burst.insert(burst.begin() + static_cast<ptrdiff_t>(at), junk);
    const std::vector<Drop> d = Burst(burst);
    for (size_t i = 0; i < d.size(); ++i) {
      EXPECT_EQ(d[i], i == at ? Drop::kEktKeyUnverified : Drop::kNone) << "packet " << i;
    }
    EXPECT_EQ(rt().key_start_index, isn) << "the ISN installed must be the genuine packet's";
  }
}

// Finding 7: every failed announcement costs the stream a token; when the budget is spent,
// further unwraps wait for it to refill, so a flood of fresh EMKs costs a bounded number of
// unwraps. Genuine traffic under the installed key is not affected, and a genuine new key is
// learned once a token is back.
TEST_F(HardeningTest, FailedAnnouncementsRunOutTheUnwrapBudget) {
  Build(EktFormat::kInTag);
  auto s = Sender(a_);
  for (int i = 0; i < 6; ++i) ASSERT_EQ(Run(Next(*s)), Drop::kNone);
  std::mt19937 rng(3);
  const uint64_t unwraps = worker_->counters().ekt_unwraps.Get();
  const auto before = KeyState();
  for (int i = 0; i < 40; ++i) {
    auto p = NextLong(*s);
    for (size_t k = 0; k < 16; ++k) p[p.size() - 8 - 16 + k] = static_cast<uint8_t>(rng());
    const Drop d = Run(p);
    EXPECT_EQ(d, i < kUnwrapBudget ? Drop::kEktKeyUnverified : Drop::kEktUnwrapBudget) << i;
  }
  EXPECT_EQ(worker_->counters().ekt_unwraps.Get() - unwraps, kUnwrapBudget);
  EXPECT_EQ(Count(Drop::kEktUnwrapBudget), 40u - kUnwrapBudget);
  EXPECT_EQ(KeyState(), before);
  // Short forms under the installed key never unwrap: they still flow.
  auto short_form = Next(*s);
  while (Announces(short_form)) short_form = Next(*s);
  EXPECT_EQ(Run(short_form), Drop::kNone);
  // The genuine sender changes key while the budget is spent: its announcement waits for a token.
  ASSERT_TRUE(s->ChangeKey().ok());
  EXPECT_EQ(Run(Next(*s)), Drop::kEktUnwrapBudget);
  FakeClock::ms += kUnwrapRefillMs;
  EXPECT_EQ(Run(Next(*s)), Drop::kNone);
  EXPECT_EQ(Learned(), 2u);
  for (int i = 0; i < 4; ++i) EXPECT_EQ(Run(Next(*s)), Drop::kNone);
}

// Finding 2, the leg's address: packets of a stream are accepted only from where its leg sends.
TEST_F(HardeningTest, StreamsAreAcceptedFromTheirLegsAddressOnly) {
  Build(EktFormat::kInTag, SourcePolicy::kSignalled);
  auto s = Sender(a_);
  EXPECT_EQ(Run(Next(*s)), Drop::kNone);
  EXPECT_EQ(Run(Next(*s), IpAddr::FromV4(0x7f000009), kLegPort), Drop::kSourceMismatch);
  EXPECT_EQ(Run(Next(*s), kLeg, kLegPort + 1), Drop::kSourceMismatch);
  EXPECT_EQ(Run(Next(*s)), Drop::kNone);
  EXPECT_EQ(Count(Drop::kSourceMismatch), 2u);
}

// Behind NAT the first packet that verifies pins the source; a forged packet does not.
TEST_F(HardeningTest, LatchedSourceIsPinnedByTheFirstVerifiedPacket) {
  Build(EktFormat::kInTag, SourcePolicy::kLatch);
  auto s = Sender(a_);
  const IpAddr nat = IpAddr::FromV4(0xc0000201);
  const IpAddr other = IpAddr::FromV4(0xc0000202);
  auto forged = Next(*s);
  forged[20] ^= 1;
  EXPECT_EQ(Run(forged, other, 4000), Drop::kEktKeyUnverified);
  EXPECT_FALSE(rt().has_latched);
  EXPECT_EQ(Run(Next(*s), nat, 5000), Drop::kNone);
  ASSERT_TRUE(rt().has_latched);
  EXPECT_EQ(Run(Next(*s), other, 4000), Drop::kSourceMismatch);
  EXPECT_EQ(Run(Next(*s), nat, 5001), Drop::kSourceMismatch);
  EXPECT_EQ(Run(Next(*s), nat, 5000), Drop::kNone);
}

}  // namespace
}  // namespace mpswitch::dataplane
