// EKT in the dataplane: forged, mis-addressed and tampered key announcements are dropped with
// named counters and never change the installed key; key changes are followed without loss.
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

constexpr uint32_t kSsrc = 0xE0;

using testing::FakeClock;
constexpr uint16_t kPort = 4000;

class EktPipelineTest : public ::testing::Test {
 protected:
  void SetUpGroup(EktFormat f, EktCipher c) {
    group_.spi = 5;
    group_.format = f;
    group_.cipher = c;
    group_.kek.assign(c == EktCipher::kAesKwp256 ? 32 : 16, 0x3c);
    group_.salt.fill(0x5a);
    auto s = EktSender::Create(group_, kSsrc, /*video=*/false);
    ASSERT_TRUE(s.ok()) << s.status();
    sender_ = std::move(*s);
    StreamConfig cfg;
    cfg.local_port = kPort;
    cfg.ssrc = kSsrc;
    cfg.trailer = f == EktFormat::kInTag ? TrailerFormat::kEktInTag : TrailerFormat::kEktRfc8870;
    cfg.ekt_spi = group_.spi;
    cfg.trailing = TrailingByte::kAudioActivity;
    cfg.routes = {{1, CsrcRewrite{2, std::nullopt}}};
    auto snap = Snapshot::Build({&cfg, 1}, {&group_, 1});
    ASSERT_TRUE(snap.ok()) << snap.status();
    snap_ = std::make_unique<Snapshot>(std::move(*snap));
    worker_ = std::make_unique<WorkerState>(4, MakeBestMacKernel());
  }

  std::vector<uint8_t> Next(EktSender& s) {
    oracle::RtpSpec r;
    r.ssrc = kSsrc;
    r.seq = seq_++;
    r.csrcs = {0x11};
    r.payload = std::vector<uint8_t>(120, static_cast<uint8_t>(r.seq));
    return s.Protect(oracle::BuildRtp(r), 30, false);
  }
  std::vector<uint8_t> Next() { return Next(*sender_); }

  Drop Run(std::vector<uint8_t> p, size_t tailroom = 4) {
    const size_t len = p.size();
    p.resize(len + tailroom);
    PacketRef ref{p.data(), static_cast<uint16_t>(len), static_cast<uint16_t>(len + tailroom), kPort};
    std::vector<uint8_t> store(2048);
    OutPacket out{store.data(), 2048};
    const BurstResult r = ProcessBurst(*snap_, *worker_, {&ref, 1}, {&out, 1});
    last_out_.assign(out.data, out.data + (r.outputs ? out.len : 0));
    return ref.drop;
  }

  uint64_t DropCount(Drop d) const { return worker_->counters().drops[static_cast<size_t>(d)].Get(); }
  const StreamRt& rt() const { return worker_->stream(0); }

  // The installed key and its announcement, to show they did not move.
  std::vector<uint8_t> KeyState() const {
    std::vector<uint8_t> v(sizeof(HmacSha1Key) + rt().emk.size() + 1);
    std::memcpy(v.data(), &rt().key, sizeof(HmacSha1Key));
    std::memcpy(v.data() + sizeof(HmacSha1Key), rt().emk.data(), rt().emk.size());
    v.back() = rt().emk_len;
    return v;
  }

  GroupParams group_;
  std::unique_ptr<EktSender> sender_;
  std::unique_ptr<Snapshot> snap_;
  std::unique_ptr<WorkerState> worker_;
  uint16_t seq_ = 100;
  std::vector<uint8_t> last_out_;  // the output of the last Run, if any
};

TEST_F(EktPipelineTest, ShortFormBeforeAnyKeyIsDropped) {
  SetUpGroup(EktFormat::kInTag, EktCipher::kAes128Ecb);
  auto p = Next();  // long packets (and their keys) never reach the switch
  while (p.back() & 1) p = Next();
  ASSERT_EQ(p.back(), 0x00);
  EXPECT_EQ(Run(p), Drop::kEktNoKey);
  EXPECT_EQ(rt().emk_len, 0);
}

TEST_F(EktPipelineTest, InTagForgedEmkNeverInstalls) {
  SetUpGroup(EktFormat::kInTag, EktCipher::kAes128Ecb);
  ASSERT_EQ(Run(Next()), Drop::kNone);
  const auto before = KeyState();
  // Forged EMK (ECB has no integrity: it decrypts to some key, which the tag refuses).
  auto p = Next();
  ASSERT_EQ(p.back() & 1, 1);
  const size_t emk_at = p.size() - 8 - 16;
  for (size_t i = 0; i < 16; ++i) p[emk_at + i] ^= 0xa5;
  EXPECT_EQ(Run(p), Drop::kEktKeyUnverified);
  EXPECT_EQ(KeyState(), before);
  // Unknown SPI.
  auto q = Next();
  q[q.size() - 2] ^= 0x40;
  EXPECT_EQ(Run(q), Drop::kEktUnknownSpi);
  // Tampered ISN inside the (covered) EKT field, EMK unchanged: the base tag fails.
  auto t = Next();
  while (!(t.back() & 1)) t = Next();
  t[t.size() - 3] ^= 1;
  EXPECT_EQ(Run(t), Drop::kAuthFailed);
  // A tampered ROC puts the packet 65536 ahead of a running stream: refused before any MAC.
  auto u = Next();
  while (!(u.back() & 1)) u = Next();
  u[u.size() - 5] ^= 1;
  EXPECT_EQ(Run(u), Drop::kEktRocOutOfRange);
  // Reserved bits of a short form.
  auto r = Next();
  while (r.back() & 1) r = Next();
  r.back() = 0x02;
  EXPECT_EQ(Run(r), Drop::kEktMalformed);
  EXPECT_EQ(KeyState(), before);
  EXPECT_EQ(Run(Next()), Drop::kNone);  // genuine traffic still flows
  EXPECT_EQ(worker_->counters().ekt_keys_learned.Get(), 1u);
}

TEST_F(EktPipelineTest, InTagKeyWrapIntegrityFailure) {
  SetUpGroup(EktFormat::kInTag, EktCipher::kAesKw128);
  ASSERT_EQ(Run(Next()), Drop::kNone);
  const auto before = KeyState();
  auto p = Next();
  p[p.size() - 8 - 24 + 3] ^= 1;
  EXPECT_EQ(Run(p), Drop::kEktUnwrapFailed);
  EXPECT_EQ(KeyState(), before);
  EXPECT_EQ(DropCount(Drop::kEktUnwrapFailed), 1u);
}

TEST_F(EktPipelineTest, InTagNeedsTailroom) {
  SetUpGroup(EktFormat::kInTag, EktCipher::kAes128Ecb);
  EXPECT_EQ(Run(Next(), /*tailroom=*/0), Drop::kNoTailroom);
}

// A late long-form packet of the previous key verifies with that key and changes nothing.
TEST_F(EktPipelineTest, LateLongFormOfThePreviousKeyDoesNotRollBack) {
  SetUpGroup(EktFormat::kInTag, EktCipher::kAesKw128);
  auto old_long = Next();  // one of the first three: long form under key 1
  ASSERT_EQ(old_long.back() & 1, 1);
  ASSERT_TRUE(sender_->ChangeKey().ok());
  for (int i = 0; i < 6; ++i) ASSERT_EQ(Run(Next()), Drop::kNone);
  const auto before = KeyState();
  EXPECT_EQ(Run(old_long), Drop::kNone);
  EXPECT_EQ(KeyState(), before);
  EXPECT_EQ(Run(Next()), Drop::kNone);
}

// A stream that lost track of the ROC (a long outage) recovers at the next long form.
TEST_F(EktPipelineTest, RocRecoversFromTheNextLongForm) {
  SetUpGroup(EktFormat::kInTag, EktCipher::kAes128Ecb);
  worker_->SetClock(&FakeClock::Now);
  FakeClock::ms = 1000;
  ASSERT_EQ(Run(Next()), Drop::kNone);
  // The switch misses 70000 packets: the sender's ROC moves on while the estimate cannot follow.
  // At most kMaxStreamPacketRate packets a second, 70000 take more than 8.5 s of silence.
  for (int i = 0; i < 70000; ++i) Next();
  FakeClock::ms += 8000;
  auto early = Next();
  while (!(early.back() & 1)) early = Next();
  EXPECT_EQ(Run(early), Drop::kEktRocOutOfRange);
  FakeClock::ms += 1000;
  ASSERT_EQ(sender_->roc(), 1u);
  auto p = Next();
  while (!(p.back() & 1)) p = Next();  // audio: every third packet is long
  EXPECT_EQ(Run(p), Drop::kNone);
  EXPECT_EQ(rt().replay.roc(), sender_->roc());
  EXPECT_EQ(Run(Next()), Drop::kNone);
}

TEST_F(EktPipelineTest, KeyChangeFollowedAndLatePacketsOfTheOldKeyAccepted) {
  SetUpGroup(EktFormat::kInTag, EktCipher::kAesKw128);
  std::vector<std::vector<uint8_t>> old_key;
  for (int i = 0; i < 6; ++i) old_key.push_back(Next());
  ASSERT_TRUE(sender_->ChangeKey().ok());
  std::vector<std::vector<uint8_t>> new_key;
  for (int i = 0; i < 6; ++i) new_key.push_back(Next());
  for (int i = 0; i < 4; ++i) ASSERT_EQ(Run(old_key[i]), Drop::kNone);
  for (auto& p : new_key) ASSERT_EQ(Run(p), Drop::kNone);
  // Reordered: the last two packets under the old key arrive after the change.
  EXPECT_EQ(Run(old_key[4]), Drop::kNone);
  EXPECT_EQ(Run(old_key[5]), Drop::kNone);
  EXPECT_EQ(worker_->counters().ekt_keys_learned.Get(), 2u);
}

TEST_F(EktPipelineTest, Rfc8870TamperedCiphertextAndUnknownTypes) {
  SetUpGroup(EktFormat::kRfc8870, EktCipher::kAesKwp128);
  dataplane::MasterKey k1;
  k1.key.fill(0x11);
  auto s2 = EktSender::Create(group_, kSsrc, false, k1);
  ASSERT_TRUE(s2.ok());
  auto sender = std::move(*s2);
  ASSERT_EQ(Run(Next(*sender)), Drop::kNone);
  ASSERT_TRUE(sender->ChangeKey().ok());  // epoch 1
  ASSERT_EQ(Run(Next(*sender)), Drop::kNone);
  const auto before = KeyState();
  // Tampered ciphertext: the RFC 5649 integrity check fails.
  auto p = Next(*sender);
  p[p.size() - 47 + 5] ^= 1;
  EXPECT_EQ(Run(p), Drop::kEktUnwrapFailed);
  EXPECT_EQ(KeyState(), before);
  // An EKTField of an unknown message type is removed and the packet kept.
  auto ext = Next(*sender);
  while (ext.back() != ekt::kRfc8870TypeShort) ext = Next(*sender);
  ext.back() = 9;  // replace the short field: 3 bytes of data, length 6, type 7
  const std::vector<uint8_t> tail = {9, 9, 0, 6, 0x07};
  ext.insert(ext.end(), tail.begin(), tail.end());
  EXPECT_EQ(Run(ext), Drop::kNone);
  // Output: the packet less the trailing byte and the 6-byte field, ending with the new tag.
  EXPECT_EQ(last_out_.size(), ext.size() - 1 - 6);
  // A short field is carried through as it came.
  auto plain_short = Next(*sender);
  while (plain_short.back() != ekt::kRfc8870TypeShort) plain_short = Next(*sender);
  EXPECT_EQ(Run(plain_short), Drop::kNone);
  EXPECT_EQ(last_out_.size(), plain_short.size() - 1);
  EXPECT_EQ(last_out_.back(), ekt::kRfc8870TypeShort);
}

}  // namespace
}  // namespace mpswitch::dataplane
