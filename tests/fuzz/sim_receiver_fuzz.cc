// A simulated room's receiving side (tools/sim, RoomReceiver) fed arbitrary datagrams: it checks
// what a switch sends it, so it must count bad input, never crash. The receiver first learns real
// keys from packets of a sender under the same fixed KEK, so mutated inputs reach the decrypt and
// payload checks too. Input: first byte bit 0 = arrived on the video socket, the rest the datagram.
#include <cstddef>
#include <cstdint>
#include <memory>

#include "mpswitch/sim/room.h"

namespace {

using mpswitch::sim::RoomReceiver;
using mpswitch::sim::RoomSender;
using mpswitch::sim::RoomSpec;

mpswitch::ekt::GroupParams Group() {
  mpswitch::ekt::GroupParams g;
  g.spi = 3;
  g.kek.assign(16, 0x5a);
  g.salt.fill(0x33);
  return g;
}

RoomSpec Spec(uint16_t id, int screens) {
  RoomSpec s;
  s.name = "fuzz" + std::to_string(id);
  s.id = id;
  s.screens = screens;
  s.ssrc_base = 0x50000000u | (uint32_t{id} << 8);
  s.video_kbps = 300;
  return s;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static std::unique_ptr<RoomSender> sender = [] {
    auto s = RoomSender::Create(Spec(1, 3), Group(), nullptr, nullptr, 1);
    return s.ok() ? std::move(*s) : nullptr;
  }();
  if (!sender || size < 1) return 0;
  RoomReceiver rx(Spec(2, 1), Group(), (data[0] >> 1) % 4 + 1);
  const auto leg = RoomSender::LegFor(Spec(1, 3));
  for (const auto& [p, ssrc] : leg.video) rx.AddSender(ssrc, 1, p, true);
  for (const auto& [p, ssrc] : leg.audio) rx.AddSender(ssrc, 1, p, false);
  static int64_t t = 0;
  std::vector<mpswitch::sim::Outgoing> out;
  sender->Poll(t += 40, 1, out);
  for (const auto& o : out) rx.Receive(o.bytes.data(), o.bytes.size(), o.video, t, 1);
  rx.Receive(data + 1, size - 1, (data[0] & 1) != 0, t, 1);
  return 0;
}
