// A meeting driving the dataplane: decisions become routes, the pipeline switches them, samples of
// the workers feed the meeting back. Every output is decrypted by libsrtp2 with the sender's key;
// a receiver's display must get a new source starting exactly at a packet its sender flagged as a
// refresh frame, and no leg may ever receive its own media.
#include "mpswitch/control/meeting_tables.h"

#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <random>
#include <set>

#include "mpswitch/dataplane/core/packet.h"
#include "mpswitch/oracle/libsrtp_oracle.h"

namespace mpswitch::control {
namespace {

using dataplane::LoadBe16;
using dataplane::LoadBe32;

struct Source {
  uint32_t ssrc;
  LegId leg;
  Position position;
  bool video;
  dataplane::MasterKey key;
  std::unique_ptr<oracle::LibsrtpSession> tx;
  uint16_t seq = 100;
};

class MeetingDataplane {
 public:
  MeetingDataplane() : meeting_(Config()), worker_(256, dataplane::MakeBestMacKernel()) {
    oracle::InitLibsrtp();
  }

  static MeetingConfig Config() {
    MeetingConfig c;
    c.conference_id = "7001";
    c.policy = SecurityPolicy::kSecure;
    c.mode = SwitchingMode::kSegment;
    c.loudest_audio = 2;
    return c;
  }

  LegId AddLeg(const std::string& name, int screens, uint32_t base, int64_t now) {
    LegConfig lc;
    lc.call_id = name;
    lc.called_number = name;
    lc.endpoint_name = name;
    lc.screens = screens;
    const Position positions[] = {Position::kCenter, Position::kLeft, Position::kRight};
    for (int i = 0; i < screens; ++i) {
      lc.video[positions[i]] = base + static_cast<uint32_t>(i);
      lc.audio[positions[i]] = base + 0x10 + static_cast<uint32_t>(i);
    }
    auto id = meeting_.Join(lc, now);
    EXPECT_TRUE(id.ok()) << id.status();
    const size_t n = legs_.size();
    legs_.push_back(*id);
    LegMedia m;
    m.video_port = static_cast<uint16_t>(20000 + 2 * n);
    m.audio_port = static_cast<uint16_t>(20001 + 2 * n);
    m.video_egress = static_cast<uint32_t>(2 * n);
    m.audio_egress = static_cast<uint32_t>(2 * n + 1);
    media_[{0, *id}] = m;
    receiver_of_egress_[m.video_egress] = *id;
    receiver_of_egress_[m.audio_egress] = *id;
    for (const auto& [pos, ssrc] : lc.video) AddSource(ssrc, *id, pos, true);
    for (const auto& [pos, ssrc] : lc.audio) AddSource(ssrc, *id, pos, false);
    if (snapshot_) Publish();  // a leg joining a running meeting: its streams exist at once
    return *id;
  }

  void AddSource(uint32_t ssrc, LegId leg, Position pos, bool video) {
    Source s{ssrc, leg, pos, video, oracle::RandomMasterKey(rng_), nullptr};
    s.tx = oracle::LibsrtpSession::Sender(s.key, dataplane::SrtpProfile::kAesCm128HmacSha1_80,
                                          ssrc, true);
    keys_[{0, ssrc}] = StreamKeying{dataplane::TrailerFormat::kPlain,
                                    dataplane::SrtpProfile::kAesCm128HmacSha1_80, s.key};
    sources_.emplace(ssrc, std::move(s));
  }

  void Publish() {
    const Meeting* ms[] = {&meeting_};
    auto streams = tables_.Streams(ms, media_, keys_);
    ASSERT_TRUE(streams.ok()) << streams.status();
    auto snap = dataplane::Snapshot::Build(*streams, {}, tables_.gates().get());
    ASSERT_TRUE(snap.ok()) << snap.status();
    snapshot_ = std::make_unique<dataplane::Snapshot>(std::move(*snap));
    published_version_ = meeting_.version();
  }

  // One 20 ms step: every microphone sends its level, every camera three packets; a camera asked
  // for a refresh answers `refresh_delay_` steps later with a refresh frame starting on the
  // second packet of the step (so mid-frame packets precede it in the same burst). Then the
  // control loop runs once.
  void Step(int64_t now, const std::map<LegId, uint8_t>& levels) {
    std::vector<std::vector<uint8_t>> bufs;
    for (auto& [ssrc, s] : sources_) {
      if (!meeting_.Find(ssrc)) continue;  // its leg left
      const int packets = s.video ? 3 : 1;
      for (int k = 0; k < packets; ++k) {
        oracle::RtpSpec r;
        r.ssrc = ssrc;
        r.seq = s.seq++;
        r.timestamp = static_cast<uint32_t>(now * 90);
        r.csrcs = {(0x321u << 12) | (static_cast<uint32_t>(s.position) << 4) | 0xf};
        r.payload = oracle::RandomBytes(rng_, s.video ? 600 : 80);
        auto plain = oracle::BuildRtp(r);
        uint8_t byte = 0;
        if (s.video) {
          auto due = want_refresh_.find(ssrc);
          if (k == 1 && due != want_refresh_.end() && due->second <= now) {
            byte = 1;
            want_refresh_.erase(due);
            refresh_sent_.insert({ssrc, r.seq});
          }
        } else {
          auto it = levels.find(s.leg);
          byte = it == levels.end() ? 5 : it->second;
        }
        plain_[{ssrc, r.seq}] = plain;
        bufs.push_back(oracle::ProtectWithTrailingByte(*s.tx, plain, byte));
      }
    }
    std::vector<dataplane::PacketRef> refs(bufs.size());
    for (size_t i = 0; i < bufs.size(); ++i) {
      bufs[i].resize(bufs[i].size() + 4);  // tailroom, as the I/O layers give
      refs[i].data = bufs[i].data();
      refs[i].len = static_cast<uint16_t>(bufs[i].size() - 4);
      refs[i].capacity = static_cast<uint16_t>(bufs[i].size());
      const Source& s = sources_.at(LoadBe32(bufs[i].data() + 8));
      refs[i].local_port = s.video ? media_.at({0, s.leg}).video_port
                                   : media_.at({0, s.leg}).audio_port;
    }
    std::vector<uint8_t> store(1024 * 2048);
    std::vector<dataplane::OutPacket> outs(1024);
    for (size_t i = 0; i < outs.size(); ++i) outs[i] = {store.data() + i * 2048, 2048};
    const auto res = dataplane::ProcessBurst(*snapshot_, worker_, refs, outs);
    EXPECT_EQ(res.accepted, refs.size()) << "every packet of a configured leg verifies";
    for (size_t i = 0; i < res.outputs; ++i) Check(outs[i]);

    // The control loop: switches the dataplane made first, then samples and timers, then
    // republish on change.
    const dataplane::WorkerState* ws[] = {&worker_};
    Meeting* ms[] = {&meeting_};
    std::set<uint32_t> answered;
    for (const DisplaySwitch& sw : tables_.TakeSwitches()) {
      meeting_.OnDisplaySwitched(sw.receiver, sw.display, sw.ssrc, now);
      answered.insert(sw.ssrc);
    }
    for (uint32_t ssrc : answered) meeting_.OnRefreshAnswered(ssrc, now);
    sampler_.Sample(tables_, ws, ms, now);
    meeting_.Tick(now);
    for (const Event& e : meeting_.TakeEvents()) {
      if (e.kind == Event::Kind::kRefreshRequest) {
        want_refresh_.emplace(e.ssrc, now + refresh_delay_ * 20);
      }
      if (e.kind == Event::Kind::kSwitchTimedOut) ++timeouts_;
    }
    if (meeting_.version() != published_version_) Publish();
  }

  void Check(const dataplane::OutPacket& o) {
    ASSERT_GE(o.len, 16);
    const uint32_t ssrc = LoadBe32(o.data + 8);
    const uint16_t seq = LoadBe16(o.data + 2);
    const Source& src = sources_.at(ssrc);
    const LegId receiver = receiver_of_egress_.at(o.egress);
    EXPECT_NE(src.leg, receiver) << "leg " << receiver << " received its own SSRC " << ssrc;
    auto& rx = rx_[{o.egress, ssrc}];
    if (!rx) rx = oracle::LibsrtpSession::Receiver(src.key, dataplane::SrtpProfile::kAesCm128HmacSha1_80);
    std::vector<uint8_t> got(o.data, o.data + o.len);
    ASSERT_EQ(rx->Unprotect(got), srtp_err_status_ok) << "SSRC " << ssrc << " seq " << seq;
    const uint8_t sink = got[15] & 0xf;
    std::vector<uint8_t> want = plain_.at({ssrc, seq});
    want[15] = static_cast<uint8_t>((want[15] & 0xf0) | sink);
    EXPECT_EQ(got, want) << "payload differs after decryption";
    ++verified_;
    if (!src.video) return;
    // What this display shows now; a change of source must start on a refresh frame.
    uint32_t& current = shown_[{o.egress, sink}];
    if (current != ssrc) {
      EXPECT_TRUE(refresh_sent_.count({ssrc, seq}))
          << "display " << int(sink) << " of leg " << receiver << " got SSRC " << ssrc
          << " starting mid-frame (seq " << seq << ")";
      switches_.push_back({receiver, sink, ssrc});
      current = ssrc;
    }
  }

  struct Switch {
    LegId receiver;
    uint8_t sink;
    uint32_t ssrc;
  };

  Meeting meeting_;
  MeetingTables tables_;
  StreamSampler sampler_;
  dataplane::WorkerState worker_;
  std::unique_ptr<dataplane::Snapshot> snapshot_;
  uint64_t published_version_ = ~0ull;
  std::mt19937_64 rng_{42};
  std::vector<LegId> legs_;
  std::map<std::pair<size_t, LegId>, LegMedia> media_;
  std::map<std::pair<size_t, uint32_t>, StreamKeying> keys_;
  std::map<uint32_t, Source> sources_;
  std::map<uint32_t, LegId> receiver_of_egress_;
  std::map<uint32_t, int64_t> want_refresh_;  // camera -> when it sends the refresh frame
  int refresh_delay_ = 3;
  std::set<std::pair<uint32_t, uint16_t>> refresh_sent_;
  std::map<std::pair<uint32_t, uint16_t>, std::vector<uint8_t>> plain_;
  std::map<std::pair<uint32_t, uint32_t>, std::unique_ptr<oracle::LibsrtpSession>> rx_;
  std::map<std::pair<uint32_t, uint8_t>, uint32_t> shown_;
  std::vector<Switch> switches_;
  uint64_t verified_ = 0;
  int timeouts_ = 0;
};

TEST(MeetingTablesTest, SpeakerChangesSwitchVideoOnTheRefreshFrameAndNobodyGetsItsOwnMedia) {
  MeetingDataplane d;
  const LegId a = d.AddLeg("room-a", 3, 0xA000, 0);
  const LegId b = d.AddLeg("room-b", 1, 0xB000, 0);
  const LegId c = d.AddLeg("room-c", 1, 0xC000, 0);
  d.Publish();
  int64_t now = 0;
  // B talks for 3 s, then C for 3 s.
  for (; now < 3000; now += 20) d.Step(now, {{b, 80}});
  const auto& a_center = d.meeting_.display(a, Position::kCenter);
  ASSERT_TRUE(a_center.shown.has_value());
  EXPECT_EQ(a_center.shown->leg, b) << "room A's center shows the talker";
  for (; now < 6000; now += 20) d.Step(now, {{c, 80}});
  ASSERT_TRUE(d.meeting_.display(a, Position::kCenter).shown.has_value());
  EXPECT_EQ(d.meeting_.display(a, Position::kCenter).shown->leg, c);
  ASSERT_TRUE(d.meeting_.display(b, Position::kCenter).shown.has_value());
  EXPECT_EQ(d.meeting_.display(b, Position::kCenter).shown->leg, c);
  ASSERT_TRUE(d.meeting_.display(c, Position::kCenter).shown.has_value());
  EXPECT_EQ(d.meeting_.display(c, Position::kCenter).shown->leg, b)
      << "the talker sees the previous speaker";

  // The dataplane followed: room A's center display (sink 1 on its video egress) went to C's
  // camera, starting at one of C's refresh frames (checked per packet in Check()).
  bool a_saw_c = false;
  for (const auto& s : d.switches_) {
    if (s.receiver == a && s.sink == 1 && s.ssrc == 0xC000) a_saw_c = true;
  }
  EXPECT_TRUE(a_saw_c);
  EXPECT_EQ(d.timeouts_, 0) << "every refresh was answered in time";
  EXPECT_GT(d.verified_, 1000u);
  EXPECT_EQ(d.tables_.routes_withheld(), 0u);
}

TEST(MeetingTablesTest, ThreeScreenSitesInSiteModeFillEveryDisplayFromOneRoom) {
  MeetingDataplane d;
  const LegId a = d.AddLeg("room-a", 3, 0xA000, 0);
  const LegId b = d.AddLeg("room-b", 3, 0xB000, 0);
  d.AddLeg("room-c", 1, 0xC000, 0);
  d.meeting_.SetMode(SwitchingMode::kSite, 0);
  d.Publish();
  int64_t now = 0;
  for (; now < 3000; now += 20) d.Step(now, {{b, 70}});
  for (Position p : {Position::kCenter, Position::kLeft, Position::kRight}) {
    const Display& disp = d.meeting_.display(a, p);
    ASSERT_TRUE(disp.shown.has_value()) << static_cast<int>(p);
    EXPECT_EQ(disp.shown->leg, b);
    EXPECT_EQ(disp.shown->position, p) << "each camera on its own display";
  }
  // Each of room A's three displays (sinks 1-3) switched to room B's matching camera in the
  // dataplane too, each on a refresh frame.
  std::set<uint8_t> sinks;
  for (const auto& s : d.switches_) {
    if (s.receiver == a && s.ssrc >= 0xB000 && s.ssrc <= 0xB002) sinks.insert(s.sink);
  }
  EXPECT_EQ(sinks, (std::set<uint8_t>{1, 2, 3}));
}

// Talkers rotate, legs join and leave, the mode flips, refresh frames come late or (for some
// cameras) never: whatever happens while switches are pending, no display ever gets a new source
// mid-frame and nobody gets its own media (both checked per packet in Check()).
TEST(MeetingTablesTest, JoinsLeavesAndModeChangesWhileSwitchesArePendingNeverStartMidFrame) {
  MeetingDataplane d;
  d.refresh_delay_ = 5;
  std::vector<LegId> legs = {d.AddLeg("room-a", 3, 0xA000, 0), d.AddLeg("room-b", 1, 0xB000, 0),
                             d.AddLeg("room-c", 3, 0xC000, 0)};
  d.Publish();
  std::mt19937 rng(7);
  int64_t now = 0;
  LegId talker = legs[1];
  LegId late = 0;
  for (int step = 0; step < 600; ++step, now += 20) {
    if (step % 60 == 0) talker = legs[rng() % legs.size()];
    if (step == 130) late = d.AddLeg("room-d", 1, 0xD000, now), legs.push_back(late);
    if (step == 200) d.meeting_.SetMode(SwitchingMode::kSite, now);
    if (step == 333) d.meeting_.SetMode(SwitchingMode::kSegment, now);
    if (step == 420) {
      ASSERT_TRUE(d.meeting_.Leave(legs[0], now).ok());
      legs.erase(legs.begin());
      if (talker == 1) talker = legs[0];
    }
    d.Step(now, {{talker, 85}});
  }
  EXPECT_GE(d.switches_.size(), 10u) << "the script must make the dataplane switch";
  EXPECT_GT(d.verified_, 5000u);
}

TEST(MeetingTablesTest, SecureMediaIsNeverRoutedToANonSecureLegInADowngradedMeeting) {
  MeetingConfig cfg = MeetingDataplane::Config();
  cfg.policy = SecurityPolicy::kBestEffort;
  Meeting m(cfg);
  auto leg = [](const char* name, uint32_t base, bool secure) {
    LegConfig lc;
    lc.call_id = lc.called_number = lc.endpoint_name = name;
    lc.secure = secure;
    lc.video[Position::kCenter] = base;
    lc.audio[Position::kCenter] = base + 0x10;
    return lc;
  };
  const LegId a = *m.Join(leg("a", 0xA000, true), 0);
  const LegId b = *m.Join(leg("b", 0xB000, true), 0);
  const LegId c = *m.Join(leg("c", 0xC000, false), 0);  // downgrades the meeting
  EXPECT_FALSE(m.secure());
  std::map<std::pair<size_t, LegId>, LegMedia> media;
  std::map<std::pair<size_t, uint32_t>, StreamKeying> keys;
  uint32_t n = 0;
  for (LegId l : {a, b, c}) {
    media[{0, l}] = LegMedia{static_cast<uint16_t>(20000 + 2 * n), static_cast<uint16_t>(20001 + 2 * n),
                             2 * n, 2 * n + 1};
    ++n;
    for (const auto& [pos, ssrc] : m.leg(l)->video) keys[{0, ssrc}] = {};
    for (const auto& [pos, ssrc] : m.leg(l)->audio) keys[{0, ssrc}] = {};
  }
  MeetingTables t;
  const Meeting* ms[] = {&m};
  auto streams = t.Streams(ms, media, keys);
  ASSERT_TRUE(streams.ok()) << streams.status();
  const uint32_t c_video = media[{0, c}].video_egress, c_audio = media[{0, c}].audio_egress;
  bool c_hears_or_sees_anything_secure = false, secure_legs_exchange = false;
  for (const auto& s : *streams) {
    const bool from_secure = s.ssrc < 0xC000;
    for (const auto& r : s.routes) {
      if (from_secure && (r.egress == c_video || r.egress == c_audio)) {
        c_hears_or_sees_anything_secure = true;
      }
      if (from_secure && r.egress != c_video && r.egress != c_audio) secure_legs_exchange = true;
    }
  }
  EXPECT_FALSE(c_hears_or_sees_anything_secure)
      << "a secure leg's media would reach a non-secure leg without re-encryption";
  EXPECT_TRUE(secure_legs_exchange) << "the secure legs still switch among themselves";
  EXPECT_GT(t.routes_withheld(), 0u);
  EXPECT_FALSE(m.MayReceiveGroupKey(a)) << "no group key is handed out while downgraded";
}

}  // namespace
}  // namespace mpswitch::control
