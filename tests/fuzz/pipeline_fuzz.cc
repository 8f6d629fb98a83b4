// libFuzzer target for the dataplane's input path: demultiplexing, RTP/RTCP header parsing, stream
// lookup, replay and ROC handling, tag verification, trailing-byte strip, CSRC rewrite and output.
//
// Input: one flags byte, then packets as [len_hi len_lo bytes...]. Flag bit 0 makes the harness
// sign each SRTP packet with the stream's real key before processing (as a sender would), so the
// fuzzer also reaches everything behind verification; without it, packets are taken as they come
// and must fail verification or parsing. Stream state persists across inputs, like a long call.
//
// Beyond memory safety it asserts what authentication promises, on the streams whose keys the
// harness holds (the plain SRTP streams 1-3 and SRTCP stream 1): a packet is accepted only if its
// tag verifies with the stream's key (signed by the harness, or by the seed generator, as a key
// holder would), never twice, and every copy the switch emits carries a tag that verifies with
// the stream's key, so the switch never re-signs anything it could not verify.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "fuzz_keys.h"
#include "mpswitch/dataplane/core/packet.h"
#include "mpswitch/dataplane/core/pipeline.h"

namespace {

using namespace mpswitch::dataplane;

using mpswitch::fuzz::KeyFor;
using mpswitch::fuzz::kFuzzPort;

struct World {
  std::unique_ptr<Snapshot> snap;
  std::unique_ptr<WorkerState> worker;
  std::vector<HmacSha1Key> srtp_keys;  // by stream index, for signing
  World() {
    std::vector<StreamConfig> cfgs;
    auto add = [&](uint32_t ssrc, StreamKind kind, SrtpProfile prof, TrailingByte tb,
                   std::vector<RouteConfig> routes) {
      StreamConfig c;
      c.local_port = kFuzzPort;
      c.ssrc = ssrc;
      c.kind = kind;
      c.profile = prof;
      c.master = KeyFor(ssrc);
      c.rt_slot = static_cast<uint32_t>(cfgs.size());
      c.trailing = tb;
      c.routes = std::move(routes);
      cfgs.push_back(c);
    };
    add(1, StreamKind::kSrtp, SrtpProfile::kAesCm128HmacSha1_80, TrailingByte::kAudioActivity,
        {{1, CsrcRewrite{1, std::nullopt}}, {2, CsrcRewrite{2, uint8_t{3}}}, {3, std::nullopt}});
    add(2, StreamKind::kSrtp, SrtpProfile::kAesCm128HmacSha1_32, TrailingByte::kVideoRefresh,
        {{1, CsrcRewrite{1, std::nullopt}}, {4, CsrcRewrite{1, std::nullopt}}});
    add(3, StreamKind::kSrtp, SrtpProfile::kAesCm128HmacSha1_80, TrailingByte::kNone,
        {{1, std::nullopt}, {2, std::nullopt}});
    add(1, StreamKind::kSrtcp, SrtpProfile::kAesCm128HmacSha1_80, TrailingByte::kNone,
        {{1, std::nullopt}});
    // EKT streams: keys learned from the packets under the groups of fuzz_keys.h.
    add(4, StreamKind::kSrtp, SrtpProfile::kAesCm128HmacSha1_80, TrailingByte::kAudioActivity,
        {{1, CsrcRewrite{2, std::nullopt}}, {2, std::nullopt}});
    cfgs.back().trailer = TrailerFormat::kEktInTag;
    cfgs.back().ekt_spi = 1;
    cfgs.back().ekt_spi_retiring = 2;  // as during a KEK rotation: both groups announce
    add(5, StreamKind::kSrtp, SrtpProfile::kAesCm128HmacSha1_32, TrailingByte::kNone,
        {{1, CsrcRewrite{3, std::nullopt}}});
    cfgs.back().trailer = TrailerFormat::kEktInTag;
    cfgs.back().ekt_spi = 2;
    add(6, StreamKind::kSrtp, SrtpProfile::kAesCm128HmacSha1_80, TrailingByte::kVideoRefresh,
        {{1, CsrcRewrite{1, std::nullopt}}});
    cfgs.back().trailer = TrailerFormat::kEktRfc8870;
    cfgs.back().ekt_spi = 3;
    const auto groups = mpswitch::fuzz::FuzzGroups();
    auto s = Snapshot::Build(cfgs, groups);
    if (!s.ok()) __builtin_trap();
    snap = std::make_unique<Snapshot>(std::move(*s));
    for (const StreamConfig& c : cfgs) {
      if (c.trailer != TrailerFormat::kPlain) break;  // EKT streams come last; not signed here
      auto keys = DeriveSessionKeys(c.master, c.kind == StreamKind::kSrtp ? KeyUse::kSrtp
                                                                          : KeyUse::kSrtcp);
      srtp_keys.push_back(HmacSha1Key::FromKey(keys->auth));
    }
    worker = std::make_unique<WorkerState>(8, MakeScalarMacKernel(), 64, 512);
  }
};

// Signs an SRTP packet for stream `ssrc` (1..3) with the ROC the worker will guess.
void Sign(World& w, std::vector<uint8_t>& p) {
  if (p.size() < 12 || Demultiplex(p) != PacketClass::kRtp) return;
  const uint32_t ssrc = LoadBe32(&p[8]);
  if (ssrc < 1 || ssrc > 3) return;
  const size_t tag_len = ssrc == 2 ? 4 : 10;
  if (p.size() < 12 + tag_len) return;
  const size_t auth_end = p.size() - tag_len;
  const StreamRt& rt = w.worker->stream(ssrc - 1);
  const uint64_t idx = rt.key_epoch ? rt.replay.EstimateSrtpIndex(LoadBe16(&p[2])) : LoadBe16(&p[2]);
  std::vector<uint8_t> buf(p.begin(), p.begin() + auth_end);
  buf.resize(auth_end + 4);
  StoreBe32(&buf[auth_end], static_cast<uint32_t>(idx >> 16));
  uint8_t mac[20];
  HmacSha1(w.srtp_keys[ssrc - 1], buf, mac);
  std::memcpy(&p[auth_end], mac, tag_len);
}

// The index of `k` in World::srtp_keys for a plain stream's packet, or -1 (EKT, unknown, junk).
int PlainStream(const uint8_t* p, size_t len) {
  const PacketClass cls = Demultiplex({p, len});
  if (cls == PacketClass::kRtp && len >= 12) {
    const uint32_t ssrc = LoadBe32(p + 8);
    return ssrc >= 1 && ssrc <= 3 ? static_cast<int>(ssrc - 1) : -1;
  }
  if (cls == PacketClass::kRtcp && len >= 8 && LoadBe32(p + 4) == 1) return 3;
  return -1;
}

// Whether an output copy of plain stream `k` carries a valid tag: SRTCP over the packet, SRTP over
// the packet and a ROC (one of the three around the stream's, as the burst may have crossed one).
bool TagVerifies(World& w, int k, const uint8_t* p, size_t len) {
  const size_t tag_len = k == 1 ? 4 : 10;
  if (len < 12 + tag_len) return false;
  const size_t auth = len - tag_len;
  uint8_t mac[20];
  if (k == 3) {
    HmacSha1(w.srtp_keys[3], {p, auth}, mac);
    return std::memcmp(mac, p + auth, tag_len) == 0;
  }
  std::vector<uint8_t> buf(p, p + auth);
  buf.resize(auth + 4);
  const uint32_t roc = w.worker->stream(static_cast<uint32_t>(k)).replay.roc();
  for (int64_t r : {int64_t{roc} - 1, int64_t{roc}, int64_t{roc} + 1}) {
    if (r < 0 || r > 0xffffffff) continue;
    StoreBe32(&buf[auth], static_cast<uint32_t>(r));
    HmacSha1(w.srtp_keys[k], buf, mac);
    if (std::memcmp(mac, p + auth, tag_len) == 0) return true;
  }
  return false;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static World world;
  if (size < 1) return 0;
  const bool sign = data[0] & 1;
  size_t off = 1;
  std::vector<std::vector<uint8_t>> pkts;
  while (off + 2 <= size && pkts.size() < 64) {
    const size_t len = std::min<size_t>((size_t{data[off]} << 8) | data[off + 1], size - off - 2);
    pkts.emplace_back(data + off + 2, data + off + 2 + len);
    off += 2 + len;
  }
  if (sign) {
    for (auto& p : pkts) Sign(world, p);
  }
  for (auto& p : pkts) p.reserve(p.size() + 4);
  std::vector<PacketRef> refs(pkts.size());
  for (size_t i = 0; i < pkts.size(); ++i) {
    refs[i].data = pkts[i].data();
    refs[i].len = static_cast<uint16_t>(std::min<size_t>(pkts[i].size(), 0xffff));
    refs[i].capacity = refs[i].len;
    // Give in-tag packets their staging tailroom most of the time (the vector has it: see below).
    if (data[0] & 2) refs[i].capacity = static_cast<uint16_t>(std::min<size_t>(pkts[i].capacity(), 0xffff));
    refs[i].local_port = kFuzzPort;
  }
  static std::vector<std::vector<uint8_t>> out_bufs(512, std::vector<uint8_t>(kMaxPacketSize + 16));
  static std::vector<OutPacket> outs(512);
  // Vary the buffer budget with the input so the no-buffer and too-small paths are reached.
  const size_t slots = 1 + (size % 200);
  const uint16_t cap = static_cast<uint16_t>(size % 3 == 0 ? 100 : kMaxPacketSize + 16);
  for (size_t i = 0; i < slots; ++i) outs[i] = OutPacket{out_bufs[i].data(), cap};
  const BurstResult r = ProcessBurst(*world.snap, *world.worker, refs, {outs.data(), slots});
  // Invariants: accepted packets come first and carry no drop; outputs fit their buffers.
  for (size_t i = 0; i < refs.size(); ++i) {
    if ((i < r.accepted) != (refs[i].drop == Drop::kNone)) __builtin_trap();
  }
  for (size_t i = 0; i < r.outputs; ++i) {
    if (outs[i].len > outs[i].capacity || outs[i].source >= r.accepted) __builtin_trap();
  }
  // Authentication: on a plain stream only what its key signed gets through, each packet once,
  // and no copy leaves with a tag its key does not produce.
  static std::set<std::string> accepted;  // stream, header and tag of every accepted packet
  if (accepted.size() > 200000) accepted.clear();
  for (size_t i = 0; i < r.accepted; ++i) {
    const int k = PlainStream(refs[i].data, refs[i].len);
    if (k < 0) continue;
    if (!TagVerifies(world, k, refs[i].data, refs[i].len)) __builtin_trap();
    const size_t tag_len = k == 1 ? 4 : 10;
    std::string id(1, static_cast<char>(k));
    id.append(reinterpret_cast<const char*>(refs[i].data), 12);
    id.append(reinterpret_cast<const char*>(refs[i].data + refs[i].len - tag_len), tag_len);
    if (!accepted.insert(std::move(id)).second) __builtin_trap();  // a replay got through
  }
  for (size_t i = 0; i < r.outputs; ++i) {
    const PacketRef& in = refs[outs[i].source];
    const int k = PlainStream(in.data, in.len);
    if (k >= 0 && !TagVerifies(world, k, outs[i].data, outs[i].len)) __builtin_trap();
  }
  return 0;
}
