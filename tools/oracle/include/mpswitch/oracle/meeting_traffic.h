// SRTP traffic of several meetings, for tests and benchmarks of the I/O backends: every leg sends
// one stream protected by libsrtp2 (with the activity byte and a MUX-CSRC) to its own media port
// on the switch, routed to every other leg of its meeting; every output a leg receives is checked
// with a libsrtp2 receiver holding the sender's key and compared with what was sent.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <random>
#include <span>
#include <string>
#include <vector>

#include "mpswitch/dataplane/tables/egress.h"
#include "mpswitch/oracle/libsrtp_oracle.h"

namespace mpswitch::oracle {

class MeetingTraffic {
 public:
  // `meetings` x `legs_per_meeting` legs; leg i uses switch port first_port + i, SSRC 0x1000 + i,
  // rt_slot i and egress i (the address the leg receives on, set by the test).
  MeetingTraffic(int meetings, int legs_per_meeting, uint16_t first_port, uint64_t seed = 1);

  size_t legs() const { return legs_.size(); }
  uint16_t switch_port(size_t leg) const { return legs_[leg].port; }
  uint32_t ssrc(size_t leg) const { return legs_[leg].ssrc; }
  int meeting_of(size_t leg) const { return legs_[leg].meeting; }
  size_t fanout() const { return static_cast<size_t>(legs_per_meeting_ - 1); }
  // Leg index of an SSRC, or legs() when unknown.
  size_t LegOf(uint32_t ssrc) const;

  // The streams, routed to the other legs of each meeting; `exclude` legs are left out (a test that
  // changes their routes builds them itself).
  std::vector<dataplane::StreamConfig> Streams() const;
  // Routes of `leg`'s stream: to every other leg of its meeting, the CSRC sink set to 1.
  std::vector<dataplane::RouteConfig> RoutesOf(size_t leg) const;

  // The next packet `leg` sends (SRTP, activity byte in clear at the end).
  std::vector<uint8_t> Next(size_t leg, size_t payload_len);

  // Checks one datagram received by `receiver`: it must come from another leg of the receiver's
  // meeting, pass libsrtp2's unprotect with that sender's key and equal what was sent with the
  // CSRC sink rewritten. Returns "" when good, otherwise what is wrong.
  std::string Verify(size_t receiver, std::span<const uint8_t> datagram);
  uint64_t verified() const { return verified_; }
  uint64_t sent(size_t leg) const { return legs_[leg].sent; }

 private:
  struct Leg {
    int meeting;
    uint16_t port;
    uint32_t ssrc;
    MasterKey key;
    uint16_t seq;
    uint64_t sent = 0;
    std::unique_ptr<LibsrtpSession> tx;
  };
  int legs_per_meeting_;
  std::mt19937_64 rng_;
  std::vector<Leg> legs_;
  std::map<std::pair<uint32_t, uint16_t>, std::vector<uint8_t>> plain_;  // (ssrc, seq) -> sent
  std::map<std::pair<size_t, uint32_t>, std::unique_ptr<LibsrtpSession>> rx_;
  uint64_t verified_ = 0;
};

}  // namespace mpswitch::oracle
