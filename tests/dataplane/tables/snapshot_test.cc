#include "mpswitch/dataplane/tables/snapshot.h"

#include <gtest/gtest.h>

namespace mpswitch::dataplane {
namespace {

StreamConfig Stream(uint16_t port, uint32_t ssrc, uint32_t slot) {
  StreamConfig c;
  c.local_port = port;
  c.ssrc = ssrc;
  c.rt_slot = slot;
  return c;
}

TEST(SnapshotTest, GroupsRoutesWithIdenticalRewrites) {
  StreamConfig c = Stream(16384, 42, 3);
  c.trailing = TrailingByte::kAudioActivity;
  c.routes = {{10, CsrcRewrite{1, std::nullopt}}, {11, CsrcRewrite{2, std::nullopt}},
              {12, CsrcRewrite{1, std::nullopt}}, {13, std::nullopt},
              {14, CsrcRewrite{2, uint8_t{3}}}};
  auto s = Snapshot::Build({&c, 1});
  ASSERT_TRUE(s.ok()) << s.status();
  const StreamEntry* e = s->Find(16384, 42, StreamKind::kSrtp);
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(s->Find(16384, 42, StreamKind::kSrtcp), nullptr);
  EXPECT_EQ(s->Find(16385, 42, StreamKind::kSrtp), nullptr);
  EXPECT_TRUE(e->needs_csrc);
  EXPECT_EQ(e->tag_len, 10);
  EXPECT_EQ(s->slot_bound(), 4u);
  auto groups = s->Groups(*e);
  ASSERT_EQ(groups.size(), 4u);
  EXPECT_EQ(s->Dests(groups[0]).size(), 2u);  // egress 10 and 12 share sink 1
  EXPECT_EQ(s->Dests(groups[0])[1].egress, 12u);
  EXPECT_EQ(groups[0].csrc_or, 1u);
  EXPECT_EQ(groups[0].csrc_and, ~0xfu);
  EXPECT_FALSE(groups[2].rewrite_csrc);
  EXPECT_EQ(groups[3].csrc_or, 0x302u);
  EXPECT_EQ(groups[3].csrc_and, ~0xf0fu);
}

TEST(SnapshotTest, RefusesAmbiguousConfiguration) {
  StreamConfig a = Stream(1, 5, 0), b = Stream(1, 5, 1);
  std::vector<StreamConfig> dup = {a, b};
  auto s = Snapshot::Build(dup);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.status().message().find("configured twice"), std::string::npos) << s.status();

  b.ssrc = 6;
  b.rt_slot = 0;
  std::vector<StreamConfig> same_slot = {a, b};
  s = Snapshot::Build(same_slot);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.status().message().find("rt_slot 0"), std::string::npos) << s.status();

  StreamConfig z = Stream(1, 9, 2);
  z.key_epoch = 0;
  s = Snapshot::Build({&z, 1});
  EXPECT_FALSE(s.ok());
}

TEST(SnapshotTest, RtcpStreamsNeverRewriteOrStrip) {
  StreamConfig c = Stream(7, 8, 0);
  c.kind = StreamKind::kSrtcp;
  c.profile = SrtpProfile::kAesCm128HmacSha1_32;
  c.trailing = TrailingByte::kVideoRefresh;
  c.routes = {{1, CsrcRewrite{3, std::nullopt}}, {2, std::nullopt}};
  auto s = Snapshot::Build({&c, 1});
  ASSERT_TRUE(s.ok());
  const StreamEntry* e = s->Find(7, 8, StreamKind::kSrtcp);
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(e->tag_len, 10);  // SRTCP tags are 80 bits whatever the SRTP profile
  EXPECT_EQ(e->trailing, TrailingByte::kNone);
  EXPECT_FALSE(e->needs_csrc);
  EXPECT_EQ(s->Groups(*e).size(), 1u);
}

}  // namespace
}  // namespace mpswitch::dataplane
