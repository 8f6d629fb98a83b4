#include "mpswitch/oracle/meeting_traffic.h"

#include <cstring>

#include "absl/strings/str_format.h"
#include "mpswitch/dataplane/core/packet.h"

namespace mpswitch::oracle {

using dataplane::LoadBe16;
using dataplane::LoadBe32;

MeetingTraffic::MeetingTraffic(int meetings, int legs_per_meeting, uint16_t first_port,
                               uint64_t seed)
    : legs_per_meeting_(legs_per_meeting), rng_(seed) {
  InitLibsrtp();
  for (int m = 0; m < meetings; ++m) {
    for (int l = 0; l < legs_per_meeting; ++l) {
      const size_t i = legs_.size();
      Leg leg;
      leg.meeting = m;
      leg.port = static_cast<uint16_t>(first_port + i);
      leg.ssrc = 0x1000 + static_cast<uint32_t>(i);
      leg.key = RandomMasterKey(rng_);
      leg.seq = static_cast<uint16_t>(rng_());
      leg.tx = LibsrtpSession::Sender(leg.key, SrtpProfile::kAesCm128HmacSha1_80, leg.ssrc,
                                      /*allow_repeat_tx=*/true);
      legs_.push_back(std::move(leg));
    }
  }
}

size_t MeetingTraffic::LegOf(uint32_t ssrc) const {
  const uint32_t i = ssrc - 0x1000;
  return ssrc >= 0x1000 && i < legs_.size() ? i : legs_.size();
}

std::vector<dataplane::RouteConfig> MeetingTraffic::RoutesOf(size_t leg) const {
  std::vector<dataplane::RouteConfig> routes;
  for (size_t r = 0; r < legs_.size(); ++r) {
    if (r == leg || legs_[r].meeting != legs_[leg].meeting) continue;
    dataplane::RouteConfig rc;
    rc.egress = static_cast<uint32_t>(r);
    rc.csrc = dataplane::CsrcRewrite{};
    rc.csrc->sink = 1;
    routes.push_back(rc);
  }
  return routes;
}

std::vector<dataplane::StreamConfig> MeetingTraffic::Streams() const {
  std::vector<dataplane::StreamConfig> out;
  for (size_t i = 0; i < legs_.size(); ++i) {
    dataplane::StreamConfig c;
    c.local_port = legs_[i].port;
    c.ssrc = legs_[i].ssrc;
    c.master = legs_[i].key;
    c.rt_slot = static_cast<uint32_t>(i);
    c.trailing = dataplane::TrailingByte::kAudioActivity;
    c.routes = RoutesOf(i);
    out.push_back(std::move(c));
  }
  return out;
}

std::vector<uint8_t> MeetingTraffic::Next(size_t leg, size_t payload_len) {
  Leg& l = legs_[leg];
  RtpSpec r;
  r.ssrc = l.ssrc;
  r.seq = l.seq++;
  r.timestamp = 160u * r.seq;
  // MUX-CSRC: clock id 0x1234, source position center, sink left (the switch rewrites it to 1).
  r.csrcs = {(0x1234u << 12) | (1u << 4) | 2u};
  r.payload = RandomBytes(rng_, payload_len);
  std::vector<uint8_t> plain = BuildRtp(r);
  plain_[{l.ssrc, r.seq}] = plain;
  ++l.sent;
  return ProtectWithTrailingByte(*l.tx, std::move(plain), static_cast<uint8_t>(rng_() % 101));
}

std::string MeetingTraffic::Verify(size_t receiver, std::span<const uint8_t> datagram) {
  if (datagram.size() < 16) return absl::StrFormat("%d-byte datagram", datagram.size());
  const uint32_t ssrc = LoadBe32(&datagram[8]);
  const uint16_t seq = LoadBe16(&datagram[2]);
  const size_t from = LegOf(ssrc);
  if (from >= legs_.size()) return absl::StrFormat("unknown SSRC %08x", ssrc);
  if (from == receiver) return "a leg received its own media";
  if (legs_[from].meeting != legs_[receiver].meeting) return "media crossed meetings";
  auto& rx = rx_[{receiver, ssrc}];
  if (!rx) rx = LibsrtpSession::Receiver(legs_[from].key, SrtpProfile::kAesCm128HmacSha1_80);
  std::vector<uint8_t> got(datagram.begin(), datagram.end());
  if (const srtp_err_status_t st = rx->Unprotect(got); st != srtp_err_status_ok) {
    return absl::StrFormat("libsrtp2 refuses SSRC %08x seq %d: status %d", ssrc, seq, st);
  }
  auto it = plain_.find({ssrc, seq});
  if (it == plain_.end()) return absl::StrFormat("SSRC %08x seq %d was never sent", ssrc, seq);
  std::vector<uint8_t> want = it->second;
  const uint32_t csrc = (LoadBe32(&want[12]) & ~0xfu) | 1u;
  dataplane::StoreBe32(&want[12], csrc);
  if (got != want) return absl::StrFormat("SSRC %08x seq %d differs after decryption", ssrc, seq);
  ++verified_;
  return "";
}

}  // namespace mpswitch::oracle
