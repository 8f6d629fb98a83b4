#include "mpswitch/dataplane/core/pipeline.h"

#include <openssl/crypto.h>

#include <algorithm>
#include <cassert>
#include <cstring>
#include <vector>

#include "mpswitch/dataplane/core/packet.h"

namespace mpswitch::dataplane {
namespace {

constexpr size_t kRocLen = 4;
constexpr size_t kMaxTagLen = 10;

// Per received packet, for the duration of one burst.
struct InMeta {
  StreamRt* rt;
  const StreamEntry* entry;
  uint64_t index;      // SRTP packet index or SRTCP index
  uint16_t auth_end;   // end of the authenticated portion = where the tag starts
  uint16_t rank;       // position among accepted packets after reordering
  uint8_t csrc_count;
  uint8_t saved[kRocLen];  // tag bytes overwritten by the staged ROC (SRTP)
  alignas(16) uint8_t mac[kMacOutLen];
};

// Per output MAC: where its tag goes and which further slots get copies of the finished packet.
struct OutMeta {
  uint16_t slot;
  uint16_t tag_at;
  uint16_t dup_count;  // slots slot+1 .. slot+dup_count
  uint8_t tag_len;
  alignas(16) uint8_t mac[kMacOutLen];
};

bool SameTag(const uint8_t* mac, const uint8_t* tag, size_t n) {
  return CRYPTO_memcmp(mac, tag, n) == 0;
}

void CountDrop(WorkerCounters& c, Drop d, uint64_t n = 1) {
  c.drops[static_cast<size_t>(d)].Add(n);
}

}  // namespace

struct WorkerState::Scratch {
  std::vector<InMeta> in;
  std::vector<OutMeta> out;
  std::vector<PacketRef> reorder;
};

void StreamRt::Install(const StreamEntry& e) {
  replay.ResetWithRoc(e.initial_roc);
  key = e.mac_key;
  packets = 0;
  const bool srtp = e.kind == StreamKind::kSrtp;
  lifetime_limit = srtp ? kMaxSrtpIndex + 1 : kMaxSrtcpIndex + 1;
  lifetime_warn_at = lifetime_limit - (srtp ? kSrtpLifetimeWarnMargin : kSrtcpLifetimeWarnMargin);
  key_id = e.key_id;
  key_epoch = e.key_epoch;
}

WorkerState::WorkerState(uint32_t stream_slots, std::unique_ptr<MacKernel> kernel,
                         uint16_t max_burst, uint16_t max_outputs)
    : slots_(stream_slots),
      streams_(new StreamRt[stream_slots]),
      kernel_(std::move(kernel)),
      max_burst_(max_burst),
      max_outputs_(max_outputs),
      scratch_(std::make_unique<Scratch>()) {
  scratch_->in.resize(max_burst);
  scratch_->out.resize(max_outputs);
  scratch_->reorder.resize(max_burst);
}

WorkerState::~WorkerState() {
  for (uint32_t i = 0; i < slots_; ++i) OPENSSL_cleanse(&streams_[i].key, sizeof(HmacSha1Key));
}

namespace {

// Classifies one packet, checks it against its stream's state and stages its verification MAC.
// Touches nothing but `m` and the staged bytes of the packet (restored after verification).
Drop Prepare(const Snapshot& snap, WorkerState& w, PacketRef& p, InMeta& m, MacJob& job) {
  if (p.len > kMaxPacketSize) return Drop::kOversize;
  const std::span<const uint8_t> bytes(p.data, p.len);
  const PacketClass cls = Demultiplex(bytes);
  if (p.len < 2) return Drop::kTooShort;

  if (cls == PacketClass::kRtp) {
    if (p.len < kRtpFixedHeader) return Drop::kTooShort;
    const StreamEntry* e = snap.Find(p.local_port, LoadBe32(p.data + 8), StreamKind::kSrtp);
    if (e == nullptr) return Drop::kUnknownStream;
    RtpView v;
    if (Drop d = ParseRtp(bytes, e->tag_len, v); d != Drop::kNone) return d;
    if (e->rt_slot >= w.stream_slots()) return Drop::kNoStreamState;
    StreamRt& rt = w.stream(e->rt_slot);
    if (!rt.Holds(*e)) rt.Install(*e);
    if (rt.packets >= rt.lifetime_limit) return Drop::kKeyExhausted;
    const uint64_t index = rt.replay.EstimateSrtpIndex(v.seq);
    if (index == kIndexOutOfRange) {
      // Below index 0, or past ROC 2^32-1: the latter means the key is used up.
      return rt.replay.roc() == 0xFFFFFFFF ? Drop::kKeyExhausted : Drop::kReplayTooOld;
    }
    switch (rt.replay.Check(index)) {
      case ReplayVerdict::kNew: break;
      case ReplayVerdict::kDuplicate: return Drop::kReplayDuplicate;
      case ReplayVerdict::kTooOld: return Drop::kReplayTooOld;
    }
    const uint16_t auth_end = static_cast<uint16_t>(p.len - e->tag_len);
    if (e->trailing != TrailingByte::kNone && auth_end <= v.header_len) return Drop::kNoTrailingByte;
    if (e->needs_csrc && v.csrc_count == 0) return Drop::kMissingCsrc;
    m = InMeta{&rt, e, index, auth_end, 0, v.csrc_count, {}, {}};
    // HMAC input is authenticated portion || ROC. Stage the ROC where the tag starts (the tag is
    // at least 4 bytes) so every kernel sees one contiguous buffer; restored after verification.
    std::memcpy(m.saved, p.data + auth_end, kRocLen);
    StoreBe32(p.data + auth_end, static_cast<uint32_t>(index >> 16));
    job = MacJob{p.data, static_cast<uint32_t>(auth_end + kRocLen), &rt.key, m.mac};
    return Drop::kNone;
  }

  if (cls == PacketClass::kRtcp) {
    if (p.len < kRtcpHeader + 4 + kSrtcpTagLen) return Drop::kTooShort;
    const StreamEntry* e = snap.Find(p.local_port, LoadBe32(p.data + 4), StreamKind::kSrtcp);
    if (e == nullptr) return Drop::kUnknownStream;
    RtcpView v;
    if (Drop d = ParseRtcp(bytes, 4 + e->tag_len, v); d != Drop::kNone) return d;
    if (e->rt_slot >= w.stream_slots()) return Drop::kNoStreamState;
    StreamRt& rt = w.stream(e->rt_slot);
    if (!rt.Holds(*e)) rt.Install(*e);
    if (rt.packets >= rt.lifetime_limit) return Drop::kKeyExhausted;
    const uint16_t auth_end = static_cast<uint16_t>(p.len - e->tag_len);
    // E flag | 31-bit SRTCP index, the last word of the authenticated portion.
    const uint64_t index = LoadBe32(p.data + auth_end - 4) & 0x7FFFFFFF;
    switch (rt.replay.Check(index)) {
      case ReplayVerdict::kNew: break;
      case ReplayVerdict::kDuplicate: return Drop::kReplayDuplicate;
      case ReplayVerdict::kTooOld: return Drop::kReplayTooOld;
    }
    m = InMeta{&rt, e, index, auth_end, 0, 0, {}, {}};
    job = MacJob{p.data, auth_end, &rt.key, m.mac};
    return Drop::kNone;
  }
  return Drop::kNotMedia;
}

// Compares the computed MAC with the received tag, restores staged bytes, and on success commits
// the packet to its stream's replay window and reports its trailing byte.
Drop Commit(PacketRef& p, InMeta& m, WorkerCounters& c) {
  const StreamEntry& e = *m.entry;
  StreamRt& rt = *m.rt;
  bool ok;
  if (e.kind == StreamKind::kSrtp) {
    uint8_t tag[kMaxTagLen];
    std::memcpy(tag, m.saved, kRocLen);
    std::memcpy(tag + kRocLen, p.data + m.auth_end + kRocLen, e.tag_len - kRocLen);
    std::memcpy(p.data + m.auth_end, m.saved, kRocLen);
    ok = SameTag(m.mac, tag, e.tag_len);
  } else {
    ok = SameTag(m.mac, p.data + m.auth_end, e.tag_len);
  }
  if (!ok) return Drop::kAuthFailed;
  // An earlier packet of the same burst may have taken this index (a duplicate within the burst)
  // or moved the window past it.
  switch (rt.replay.Check(m.index)) {
    case ReplayVerdict::kNew: break;
    case ReplayVerdict::kDuplicate: return Drop::kReplayDuplicate;
    case ReplayVerdict::kTooOld: return Drop::kReplayTooOld;
  }
  rt.replay.Update(m.index);
  ++rt.packets;
  if (rt.packets >= rt.lifetime_warn_at) c.key_lifetime_warnings.Add();
  rt.accepted.store(rt.accepted.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
  if (e.trailing != TrailingByte::kNone) {
    const uint8_t b = p.data[m.auth_end - 1];
    if (e.trailing == TrailingByte::kAudioActivity) {
      rt.last_activity.store(b, std::memory_order_relaxed);
      rt.activity_sum.store(rt.activity_sum.load(std::memory_order_relaxed) + b,
                            std::memory_order_relaxed);
    } else if (b == 1 || b == 2) {
      rt.refresh_points.store(rt.refresh_points.load(std::memory_order_relaxed) + 1,
                              std::memory_order_relaxed);
      rt.last_refresh_index.store(m.index, std::memory_order_relaxed);
    }
  }
  return Drop::kNone;
}

}  // namespace

BurstResult ProcessBurst(const Snapshot& snap, WorkerState& w, std::span<PacketRef> pkts,
                         std::span<OutPacket> out) {
  WorkerState::Scratch& sc = *w.scratch_;
  WorkerCounters& c = w.counters_;
  const size_t n = std::min<size_t>(pkts.size(), w.max_burst_);
  const size_t out_cap = std::min<size_t>(out.size(), w.max_outputs_);
  c.rx_packets.Add(pkts.size());
  for (size_t i = n; i < pkts.size(); ++i) {
    pkts[i].drop = Drop::kBurstOverflow;
    CountDrop(c, Drop::kBurstOverflow);
  }

  // 1. Classify, check and submit every packet's verification MAC while its bytes are in cache.
  // 2. One flush for the whole burst (multi-buffer lanes stay full).
  MacKernel& kernel = *w.kernel_;
  size_t njobs = 0;
  for (size_t i = 0; i < n; ++i) {
    PacketRef& p = pkts[i];
    MacJob job;
    p.drop = Prepare(snap, w, p, sc.in[i], job);
    if (p.drop == Drop::kNone) {
      kernel.Submit(job);
      ++njobs;
    }
  }
  kernel.Flush();
  c.verify_macs.Add(njobs);

  // 3. Verdicts, in arrival order, so duplicates inside one burst are caught.
  uint16_t accepted = 0;
  for (size_t i = 0; i < n; ++i) {
    PacketRef& p = pkts[i];
    if (p.drop != Drop::kNone) continue;
    p.drop = Commit(p, sc.in[i], c);
    if (p.drop == Drop::kNone) sc.in[i].rank = accepted++;
  }

  // 4. Build every output (own copy of the header, rewritten CSRC, byte stripped, ROC staged) and
  //    submit its MAC while the copy is hot. Only packets that verified get here: the switch never
  //    re-signs what it could not verify, so a forged flood costs one MAC per packet, not N+1.
  size_t slot = 0;
  size_t nout = 0;
  Drop last_fail = Drop::kNone;
  auto take_slot = [&](size_t need) -> OutPacket* {
    // A too-small buffer is skipped without being consumed, so used slots stay contiguous.
    last_fail = slot >= out_cap            ? Drop::kNoOutputBuffer
                : out[slot].capacity < need ? Drop::kOutputTooSmall
                                            : Drop::kNone;
    if (last_fail != Drop::kNone) {
      CountDrop(c, last_fail);
      return nullptr;
    }
    return &out[slot++];
  };
  for (size_t i = 0; i < n; ++i) {
    const PacketRef& p = pkts[i];
    if (p.drop != Drop::kNone) continue;
    const InMeta& m = sc.in[i];
    const StreamEntry& e = *m.entry;
    const size_t strip = e.trailing != TrailingByte::kNone ? 1 : 0;
    const size_t out_auth = m.auth_end - strip;
    const uint32_t csrc_in = m.csrc_count ? LoadBe32(p.data + kRtpFixedHeader) : 0;
    for (const RouteGroup& g : snap.Groups(e)) {
      const auto dests = snap.Dests(g);
      const uint32_t csrc = g.rewrite_csrc ? ((csrc_in & g.csrc_and) | g.csrc_or) : csrc_in;
      if (strip == 0 && csrc == csrc_in) {
        // Byte-identical to the verified input: forward its bytes and its (verified) tag.
        for (const Destination& d : dests) {
          OutPacket* o = take_slot(p.len);
          if (o == nullptr) continue;
          std::memcpy(o->data, p.data, p.len);
          o->len = p.len;
          o->egress = d.egress;
          o->source = m.rank;
        }
        continue;
      }
      const size_t need = out_auth + std::max<size_t>(e.tag_len, kRocLen);
      OutPacket* o = take_slot(need);
      if (o == nullptr) {
        // The same slot would refuse the group's other receivers too; count each of them.
        CountDrop(c, last_fail, dests.size() - 1);
        continue;
      }
      std::memcpy(o->data, p.data, out_auth);
      if (m.csrc_count) StoreBe32(o->data + kRtpFixedHeader, csrc);
      StoreBe32(o->data + out_auth, static_cast<uint32_t>(m.index >> 16));
      o->egress = dests[0].egress;
      o->source = m.rank;
      OutMeta& om = sc.out[nout];
      om.slot = static_cast<uint16_t>(o - out.data());
      om.tag_at = static_cast<uint16_t>(out_auth);
      om.tag_len = e.tag_len;
      om.dup_count = 0;
      kernel.Submit(MacJob{o->data, static_cast<uint32_t>(out_auth + kRocLen), &m.rt->key, om.mac});
      ++nout;
      for (size_t k = 1; k < dests.size(); ++k) {
        OutPacket* dup = take_slot(out_auth + e.tag_len);
        if (dup == nullptr) continue;
        dup->egress = dests[k].egress;
        dup->source = m.rank;
        ++om.dup_count;
      }
    }
  }

  // 5. One flush for every output tag of the burst.
  kernel.Flush();
  c.tags_computed.Add(nout);

  // 6. Write tags; receivers sharing a rewritten header get copies of the finished packet.
  for (size_t j = 0; j < nout; ++j) {
    const OutMeta& om = sc.out[j];
    OutPacket& o = out[om.slot];
    std::memcpy(o.data + om.tag_at, om.mac, om.tag_len);
    o.len = static_cast<uint16_t>(om.tag_at + om.tag_len);
    for (size_t k = 1; k <= om.dup_count; ++k) {
      std::memcpy(out[om.slot + k].data, o.data, o.len);
      out[om.slot + k].len = o.len;
    }
  }
  c.outputs.Add(slot);
  c.accepted.Add(accepted);

  // Accepted packets first in arrival order, failed ones after them (rte_ipsec convention).
  size_t good = 0, bad = accepted;
  for (size_t i = 0; i < n; ++i) {
    if (pkts[i].drop == Drop::kNone) {
      sc.reorder[good++] = pkts[i];
    } else {
      CountDrop(c, pkts[i].drop);
      sc.reorder[bad++] = pkts[i];
    }
  }
  std::copy_n(sc.reorder.begin(), n, pkts.begin());  // the overflow, if any, stays at the tail
  return BurstResult{accepted, static_cast<uint16_t>(slot)};
}

}  // namespace mpswitch::dataplane
