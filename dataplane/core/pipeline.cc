#include "mpswitch/dataplane/core/pipeline.h"

#include <openssl/crypto.h>
#include <time.h>

#include <algorithm>
#include <cassert>
#include <cstring>
#include <vector>

#include "mpswitch/dataplane/core/packet.h"
#include "mpswitch/ekt/ekt.h"
#include "mpswitch/ekt/key_codec.h"

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
  uint16_t carry_len;  // EKT bytes after the tag that outputs carry unchanged
  uint8_t csrc_count;
  bool tag_in_mac;     // in-tag EKT: the MAC covers the whole packet with the tag zeroed
  bool learning;       // this packet announces a new key (`prov`), installed once it verifies
  bool dual;           // `mac2` was computed with the new key of packet `dual_from` of this burst
  bool dual_only;      // ... and `mac` too: the stream had no key of its own yet
  bool dual_pending;   // `key2` is that new key (else: the current key, for a late packet)
  bool gate_open;      // the stream's gate was open when this packet was accepted
  bool preverified;    // `mac` was computed in Prepare (a new key's first announcement)
  uint16_t dual_from;
  uint8_t saved[kMaxTagLen];  // input bytes staging overwrote (the tag), restored after verifying
  alignas(16) uint8_t mac[kMacOutLen];
  alignas(16) uint8_t mac2[kMacOutLen];
  // The key this packet is verified with and its outputs are re-tagged with: a copy, because a
  // key installed by a later packet of the same burst must not re-tag this one.
  HmacSha1Key key;
  HmacSha1Key key2;  // the second key tried when `dual`
  // What a learning packet announces.
  HmacSha1Key prov;
  uint32_t field_roc;
  const uint8_t* emk;
  uint8_t emk_len;
  uint16_t isn;
};

// Per output MAC: where its tag goes and which further slots get copies of the finished packet.
struct OutMeta {
  uint16_t slot;
  uint16_t tag_at;
  uint16_t len;
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

uint64_t CoarseClockMs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000 + static_cast<uint64_t>(ts.tv_nsec) / 1000000;
}

}  // namespace

struct WorkerState::Scratch {
  std::vector<InMeta> in;
  std::vector<OutMeta> out;
  std::vector<PacketRef> reorder;
};

void StreamRt::Install(const StreamEntry& e, uint64_t now_ms) {
  replay.ResetWithRoc(e.initial_roc);
  key = e.mac_key;
  packets = 0;
  const bool srtp = e.kind == StreamKind::kSrtp;
  lifetime_limit = srtp ? kMaxSrtpIndex + 1 : kMaxSrtcpIndex + 1;
  lifetime_warn_at = lifetime_limit - (srtp ? kSrtpLifetimeWarnMargin : kSrtcpLifetimeWarnMargin);
  key_id = e.key_id;
  key_epoch = e.key_epoch;
  // Anything learned from EKT belonged to the previous owner of the slot (or the previous epoch),
  // and so did the source it latched.
  OPENSSL_cleanse(&prev_key, sizeof(prev_key));
  OPENSSL_cleanse(emk.data(), emk.size());
  OPENSSL_cleanse(prev_emk.data(), prev_emk.size());
  emk_len = 0;
  prev_emk_len = 0;
  emk_roc = prev_emk_roc = 0;
  has_prev = false;
  pending_burst = 0;
  key_start_index = 0;
  has_latched = false;
  latched = IpAddr{};
  latched_port = 0;
  last_accept_ms = now_ms;
  unwrap_tokens = kUnwrapBudget;
  unwrap_refill_ms = now_ms;
}

WorkerState::WorkerState(uint32_t stream_slots, std::unique_ptr<MacKernel> kernel,
                         uint16_t max_burst, uint16_t max_outputs)
    : slots_(stream_slots),
      streams_(new StreamRt[stream_slots]),
      kernel_(std::move(kernel)),
      max_burst_(max_burst),
      max_outputs_(max_outputs),
      scratch_(std::make_unique<Scratch>()),
      clock_(&CoarseClockMs) {
  scratch_->in.resize(max_burst);
  scratch_->out.resize(max_outputs);
  scratch_->reorder.resize(max_burst);
  // Per-worker OpenSSL context for deriving keys announced by EKT fields. Failure here means
  // OpenSSL itself is unusable; learning then fails closed (ekt_unwrap_failed).
  if (auto d = AuthKeyDeriver::Create(); d.ok()) deriver_ = std::make_unique<AuthKeyDeriver>(std::move(*d));
}

const ekt::KeyWrapper* WorkerState::WrapperFor(const EktGroupEntry& g) {
  if (auto it = wrappers_.find(g.id); it != wrappers_.end()) return &it->second;
  // Bounded: a worker never holds more wrappers than a few snapshots' worth of groups.
  if (wrappers_.size() >= 4096) wrappers_.clear();
  auto kw = ekt::KeyWrapper::Create({g.kek.data(), g.kek_len});
  if (!kw.ok()) return nullptr;
  return &wrappers_.emplace(g.id, std::move(*kw)).first->second;
}

WorkerState::~WorkerState() {
  for (uint32_t i = 0; i < slots_; ++i) {
    OPENSSL_cleanse(&streams_[i].key, sizeof(HmacSha1Key));
    OPENSSL_cleanse(&streams_[i].prev_key, sizeof(HmacSha1Key));
  }
  for (InMeta& m : scratch_->in) OPENSSL_cleanse(&m, sizeof(m));
}

namespace {

// Whether a packet comes from where its stream's leg sends (SourcePolicy).
bool FromItsSource(const StreamEntry& e, const StreamRt& rt, const PacketRef& p) {
  switch (e.source_policy) {
    case SourcePolicy::kAny: return true;
    case SourcePolicy::kSignalled: return p.from_port == e.source_port && p.from == e.source;
    case SourcePolicy::kLatch:
      return !rt.has_latched || (p.from_port == rt.latched_port && p.from == rt.latched);
  }
  return false;
}

// One token per kUnwrapRefillMs since the last, up to kUnwrapBudget.
void RefillUnwrapBudget(StreamRt& rt, uint64_t now) {
  if (rt.unwrap_tokens >= kUnwrapBudget || now < rt.unwrap_refill_ms) {
    rt.unwrap_refill_ms = now;
    return;
  }
  const uint64_t add = (now - rt.unwrap_refill_ms) / kUnwrapRefillMs;
  if (add == 0) return;
  rt.unwrap_tokens = static_cast<uint8_t>(std::min<uint64_t>(kUnwrapBudget, rt.unwrap_tokens + add));
  rt.unwrap_refill_ms += add * kUnwrapRefillMs;
}

// Classifies one packet, checks it against its stream's state and stages its verification MAC.
// Writes `m`, the staged bytes of the packet (restored after verification) and, of the stream's
// state, only what a new key's first verified announcement and failed unwraps change (the
// pending key of this burst, the unwrap budget).
Drop Prepare(const Snapshot& snap, WorkerState& w, PacketRef& p, uint16_t pos, InMeta* w_in,
             MacJob& job, MacJob& job2) {
  InMeta& m = w_in[pos];
  if (p.len > kMaxPacketSize) return Drop::kOversize;
  const std::span<const uint8_t> bytes(p.data, p.len);
  const PacketClass cls = Demultiplex(bytes);
  if (p.len < 2) return Drop::kTooShort;

  if (cls == PacketClass::kRtp) {
    if (p.len < kRtpFixedHeader) return Drop::kTooShort;
    const uint32_t ssrc = LoadBe32(p.data + 8);
    const StreamEntry* e = snap.Find(p.local_port, ssrc, StreamKind::kSrtp);
    if (e == nullptr) return Drop::kUnknownStream;
    if (e->rt_slot >= w.stream_slots()) return Drop::kNoStreamState;
    StreamRt& rt = w.stream(e->rt_slot);
    if (!rt.Holds(*e)) rt.Install(*e, w.now_ms());
    if (!FromItsSource(*e, rt, p)) return Drop::kSourceMismatch;
    m.rt = &rt;
    m.entry = e;
    m.preverified = false;
    m.learning = false;
    m.dual = false;
    m.dual_only = false;
    m.dual_pending = false;
    m.tag_in_mac = false;
    m.carry_len = 0;

    // Where the tag and any EKT field sit; what the field announces. Only the stream's own
    // meeting group (and, during a KEK rotation, the group it replaces) may announce its keys.
    const EktGroupEntry* own = snap.Group(e->ekt_group);
    const EktGroupEntry* alt = snap.Group(e->ekt_group_alt);
    auto group_of = [&](uint16_t s) -> const EktGroupEntry* {
      if (own != nullptr && own->spi == s) return own;
      if (alt != nullptr && alt->spi == s) return alt;
      return nullptr;
    };
    auto spi_drop = [&](uint16_t s) {
      return snap.FindGroup(s) != nullptr ? Drop::kEktForeignSpi : Drop::kEktUnknownSpi;
    };
    size_t trailer_len = e->tag_len;
    bool announces = false;       // a long / full EKT field
    const EktGroupEntry* g = nullptr;
    uint32_t field_roc = 0;
    std::span<const uint8_t> ct;  // EMK or EKTCiphertext
    if (e->trailer == TrailerFormat::kEktInTag) {
      ekt::InTagView t;
      uint16_t refused_spi = 0;
      auto emk_len = [&](uint16_t s) -> size_t {
        const EktGroupEntry* sg = group_of(s);
        if (sg == nullptr) refused_spi = s;
        return sg != nullptr ? ekt::InTagEmkLen(sg->cipher) : 0;
      };
      switch (ekt::ParseInTag(bytes, e->tag_len, kRtpFixedHeader, emk_len, t)) {
        case ekt::ParseError::kNone: break;
        case ekt::ParseError::kTooShort: return Drop::kTooShort;
        case ekt::ParseError::kUnknownSpi: return spi_drop(refused_spi);
        case ekt::ParseError::kMalformed: return Drop::kEktMalformed;
      }
      if (p.capacity < p.len + kRocLen) return Drop::kNoTailroom;
      trailer_len = t.trailer_len;
      m.tag_in_mac = true;
      m.carry_len = static_cast<uint16_t>(t.trailer_len - e->tag_len);
      announces = t.long_form;
      if (announces) g = group_of(t.spi);
      field_roc = t.roc;
      ct = t.emk;
      m.isn = t.isn;
    } else if (e->trailer == TrailerFormat::kEktRfc8870) {
      ekt::Rfc8870View f;
      switch (ekt::ParseRfc8870(bytes, kRtpFixedHeader + e->tag_len, f)) {
        case ekt::ParseError::kNone: break;
        case ekt::ParseError::kTooShort: return Drop::kTooShort;
        case ekt::ParseError::kUnknownSpi: return Drop::kEktUnknownSpi;
        case ekt::ParseError::kMalformed: return Drop::kEktMalformed;
      }
      trailer_len = e->tag_len + f.field_len;
      // RFC 8870 §4.1: a field of unknown type is dropped and the packet kept.
      const bool known = f.type == ekt::kRfc8870TypeShort || f.type == ekt::kRfc8870TypeFull;
      m.carry_len = known ? f.field_len : 0;
      announces = f.type == ekt::kRfc8870TypeFull;
      if (announces) {
        g = group_of(f.spi);
        if (g == nullptr) return spi_drop(f.spi);
      }
      ct = f.ciphertext;
      m.isn = 0;
      // The field's epoch is left alone: nothing authenticates it (it is outside the SRTP tag and
      // outside the key wrap), so it cannot order keys. The packet index, which the tag covers,
      // does that (InstallLearned).
    }

    RtpView v;
    if (Drop d = ParseRtp(bytes, trailer_len, v); d != Drop::kNone) return d;
    const uint16_t auth_end = static_cast<uint16_t>(p.len - trailer_len);
    if (e->trailing != TrailingByte::kNone && auth_end <= v.header_len) return Drop::kNoTrailingByte;
    if (e->needs_csrc && v.csrc_count == 0) return Drop::kMissingCsrc;

    // A key is new when the field's encrypted key is neither the installed one nor the previous
    // one; either of those costs one compare, and so does a new key already announced (and
    // verified) by an earlier packet of this burst.
    const bool ekt_stream = e->trailer != TrailerFormat::kPlain;
    auto same = [&](const uint8_t* emk, size_t len) {
      return len == ct.size() && std::memcmp(emk, ct.data(), len) == 0;
    };
    const bool pending = ekt_stream && rt.pending_burst == w.burst_serial();
    const InMeta* pm = pending ? &w_in[rt.pending_pos] : nullptr;
    const bool is_current = announces && rt.emk_len != 0 && same(rt.emk.data(), rt.emk_len);
    const bool is_prev = announces && !is_current && rt.has_prev &&
                         same(rt.prev_emk.data(), rt.prev_emk_len);
    const bool as_pending = announces && !is_current && !is_prev && pm && same(pm->emk, pm->emk_len);
    const bool new_key = announces && !is_current && !is_prev;
    bool roc_known = announces && e->trailer == TrailerFormat::kEktInTag;  // in clear, covered
    if (is_current && e->trailer == TrailerFormat::kEktRfc8870) {
      field_roc = rt.emk_roc;
      roc_known = true;
    } else if (is_prev && e->trailer == TrailerFormat::kEktRfc8870) {
      field_roc = rt.prev_emk_roc;
      roc_known = true;
    }
    if (new_key && as_pending) {
      m.prov = pm->prov;
      // RFC 8870 seals the ROC in the ciphertext, so the same ciphertext carries the same ROC.
      // The in-tag ROC is the packet's own, in clear beside the EMK: a packet after a wrap in the
      // burst that first announced the key has the next ROC under the same EMK.
      if (e->trailer == TrailerFormat::kEktRfc8870) field_roc = pm->field_roc;
      roc_known = true;
    } else if (new_key) {
      if (ct.size() > rt.emk.size()) return Drop::kEktMalformed;
      // Every unwrap that fails (or whose key fails the packet) costs the stream a token; genuine
      // senders need one unwrap per key, so only a forger runs the budget down.
      RefillUnwrapBudget(rt, w.now_ms());
      if (rt.unwrap_tokens == 0) return Drop::kEktUnwrapBudget;
      const ekt::KeyWrapper* kw = w.WrapperFor(*g);
      if (kw == nullptr) return Drop::kEktUnwrapFailed;
      w.counters().ekt_unwraps.Add();
      ekt::MasterKeyBytes key;
      bool ok;
      if (g->format == ekt::EktFormat::kInTag) {
        ok = ekt::DecryptInTagEmk(*kw, g->cipher, ct, key);
      } else {
        ok = ekt::DecryptRfc8870(*kw, ct, ssrc, key, field_roc);
        roc_known = ok;
      }
      if (!ok) {
        --rt.unwrap_tokens;
        return Drop::kEktUnwrapFailed;
      }
      MasterKey master;
      std::copy(key.begin(), key.end(), master.key.begin());
      master.salt = g->salt;
      OPENSSL_cleanse(key.data(), key.size());
      std::array<uint8_t, kSessionAuthKeyLen> auth;
      const bool derived = w.has_deriver() && w.deriver().Derive(master, KeyUse::kSrtp, auth);
      OPENSSL_cleanse(master.key.data(), master.key.size());
      if (!derived) return Drop::kEktUnwrapFailed;
      m.prov = HmacSha1Key::FromKey(auth);
      OPENSSL_cleanse(auth.data(), auth.size());
    }
    if (new_key) {
      m.learning = true;
      m.emk = ct.data();
      m.emk_len = static_cast<uint8_t>(ct.size());
      m.field_roc = field_roc;
    }
    if (ekt_stream && !m.learning && rt.emk_len == 0 && !pending) return Drop::kEktNoKey;

    if (rt.packets >= rt.lifetime_limit) return Drop::kKeyExhausted;
    // A ROC the packet proves (in-tag: in clear under the tag; RFC 8870: sealed in the wrap) gives
    // the index outright, so a fresh stream starts at the sender's index and a stream that lost
    // track through an outage recovers at the next long form. It cannot lower a known ROC: an
    // index below the window is refused as too old.
    uint64_t index;
    if (roc_known) {
      index = (uint64_t{field_roc} << 16) | v.seq;
    } else if (rt.replay.initialized()) {
      index = rt.replay.EstimateSrtpIndex(v.seq);
    } else if (pending) {
      // The stream's first key arrived earlier in this burst: place this packet around it.
      ReplayWindow around;
      around.Update(pm->index);
      index = around.EstimateSrtpIndex(v.seq);
    } else {
      index = rt.replay.EstimateSrtpIndex(v.seq);
    }
    if (index == kIndexOutOfRange) {
      // Below index 0, or past ROC 2^32-1: the latter means the key is used up.
      return rt.replay.roc() == 0xFFFFFFFF ? Drop::kKeyExhausted : Drop::kReplayTooOld;
    }
    if (roc_known && rt.replay.initialized() && index > rt.replay.highest() &&
        index != rt.replay.EstimateSrtpIndex(v.seq)) {
      // The field puts the packet further ahead than its sequence number says (at least 2^15
      // packets past the highest index; the estimate itself follows any wrap). A sender can have
      // got that far only if the stream was silent long enough: at kMaxStreamPacketRate, 2^15
      // packets take 4 s, and a leg silent for 10 s is removed, so a genuine long outage stays
      // within the bound. A verified field far ahead of a running stream would strand its
      // genuine packets below the replay window: refused.
      const uint64_t quiet_ms = w.now_ms() > rt.last_accept_ms ? w.now_ms() - rt.last_accept_ms : 0;
      if (index - rt.replay.highest() > kMaxStreamPacketRate * quiet_ms / 1000) {
        return Drop::kEktRocOutOfRange;
      }
    }
    switch (rt.replay.Check(index)) {
      case ReplayVerdict::kNew: break;
      case ReplayVerdict::kDuplicate: return Drop::kReplayDuplicate;
      case ReplayVerdict::kTooOld: return Drop::kReplayTooOld;
    }
    const HmacSha1Key* key = &rt.key;
    bool late = false;  // maybe sent under the previous key: also try the current one
    if (m.learning) {
      key = &m.prov;
    } else if (is_prev) {
      // The previous key covers only what came before its successor: someone who still holds it
      // (a former member) must not be able to use it to push the stream's index ahead.
      if (index >= rt.key_start_index) return Drop::kEktStaleKey;
      key = &rt.prev_key;
    } else if (!is_current && rt.has_prev && index < rt.key_start_index) {
      key = &rt.prev_key;  // sent before the key change, arriving late
      late = true;
    }
    m.index = index;
    m.auth_end = auth_end;
    m.csrc_count = v.csrc_count;
    // Stage the MAC input as one contiguous buffer for every kernel: plain and RFC 8870 hash the
    // authenticated portion || ROC, so the ROC goes where the tag starts (a tag is at least 4
    // bytes); in-tag hashes the whole packet with the tag zeroed || ROC, so the ROC goes after the
    // end (the tailroom checked above). Restored after verification.
    std::memcpy(m.saved, p.data + auth_end, e->tag_len);
    uint32_t mac_len;
    if (m.tag_in_mac) {
      std::memset(p.data + auth_end, 0, e->tag_len);
      StoreBe32(p.data + p.len, static_cast<uint32_t>(index >> 16));
      mac_len = p.len + kRocLen;
    } else {
      StoreBe32(p.data + auth_end, static_cast<uint32_t>(index >> 16));
      mac_len = auth_end + kRocLen;
    }
    if (m.learning && !as_pending) {
      // The first announcement of a key in this burst is verified here, at once, before it may
      // stand for the burst's later packets: junk placed ahead of the genuine announcement then
      // claims nothing, and the ISN and ROC installed are those of a packet that verified. Only
      // new keys pay this extra MAC.
      uint8_t mac[20];
      HmacSha1(m.prov, {p.data, mac_len}, mac);
      const bool verified = SameTag(mac, m.saved, e->tag_len);
      if (!verified) {
        std::memcpy(p.data + auth_end, m.saved, e->tag_len);
        --rt.unwrap_tokens;
        return Drop::kEktKeyUnverified;
      }
      // Commit compares this MAC again (after the replay check); the kernel need not redo it.
      std::memcpy(m.mac, mac, kMacOutLen);
      m.preverified = true;
      rt.pending_burst = w.burst_serial();
      rt.pending_pos = pos;
    }
    m.key = *key;
    job = MacJob{p.data, mac_len, &m.key, m.mac};
    // A new key announced earlier in this burst may already protect this packet (a short form
    // after it): try it too, alone when the stream has no key yet. A late packet is tried with
    // the current key as well.
    m.dual_pending = false;
    if (pending && !m.learning && !is_current && !is_prev) {
      m.dual = true;
      m.dual_pending = true;
      m.dual_from = rt.pending_pos;
      if (rt.emk_len == 0) {
        m.key = pm->prov;
        m.dual_only = true;
      } else {
        m.key2 = pm->prov;
        job2 = MacJob{p.data, mac_len, &m.key2, m.mac2};
      }
    } else if (late) {
      m.dual = true;
      m.key2 = rt.key;
      job2 = MacJob{p.data, mac_len, &m.key2, m.mac2};
    }
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
    if (!rt.Holds(*e)) rt.Install(*e, w.now_ms());
    if (!FromItsSource(*e, rt, p)) return Drop::kSourceMismatch;
    if (rt.packets >= rt.lifetime_limit) return Drop::kKeyExhausted;
    const uint16_t auth_end = static_cast<uint16_t>(p.len - e->tag_len);
    // E flag | 31-bit SRTCP index, the last word of the authenticated portion.
    const uint64_t index = LoadBe32(p.data + auth_end - 4) & 0x7FFFFFFF;
    switch (rt.replay.Check(index)) {
      case ReplayVerdict::kNew: break;
      case ReplayVerdict::kDuplicate: return Drop::kReplayDuplicate;
      case ReplayVerdict::kTooOld: return Drop::kReplayTooOld;
    }
    m.rt = &rt;
    m.entry = e;
    m.index = index;
    m.auth_end = auth_end;
    m.preverified = false;
    m.carry_len = 0;
    m.csrc_count = 0;
    m.tag_in_mac = false;
    m.learning = false;
    m.dual = false;
    m.dual_only = false;
    m.dual_pending = false;
    m.key = rt.key;
    job = MacJob{p.data, auth_end, &m.key, m.mac};
    return Drop::kNone;
  }
  return Drop::kNotMedia;
}

// Compares the computed MAC with the received tag, restores staged bytes, and on success commits
// the packet to its stream's replay window and reports its trailing byte.
// Installs the key a verified EKT field announced (`src` describes it; `index` is the packet that
// proved it).
void InstallLearned(StreamRt& rt, const InMeta& src, uint64_t index, WorkerCounters& c) {
  if (rt.emk_len == src.emk_len && std::memcmp(rt.emk.data(), src.emk, src.emk_len) == 0) return;
  if (rt.emk_len != 0 && std::memcmp(&rt.key, &src.prov, sizeof(rt.key)) == 0) {
    // The same key in a new wrapping (RFC 8870 seals the ROC in it): remember the bytes.
    std::memcpy(rt.emk.data(), src.emk, src.emk_len);
    rt.emk_len = src.emk_len;
    rt.emk_roc = src.field_roc;
    return;
  }
  if (rt.emk_len != 0) {
    // A verified packet of an older key (late, or replayed inside the window) proves that key,
    // not that it is current: it must not roll the stream back. Keys are ordered by the indices
    // of the packets that prove them, which their tags cover; never by the RFC 8870 epoch,
    // which nothing authenticates.
    if (index < rt.key_start_index) return;
    rt.prev_key = rt.key;
    rt.prev_emk = rt.emk;
    rt.prev_emk_len = rt.emk_len;
    rt.prev_emk_roc = rt.emk_roc;
    rt.has_prev = true;
  }
  rt.key = src.prov;
  // In-tag ISN: the first sequence number under the new key (0: in use since before). Its index
  // is the one at or below this packet's with that SEQ. RFC 8870 has no ISN: the key starts at
  // the packet that proved it, and late packets around it are tried with both keys.
  uint64_t start = index;
  if (src.tag_in_mac && src.isn != 0) {
    start = (index & ~uint64_t{0xffff}) | src.isn;
    if (start > index) start = start >= 0x10000 ? start - 0x10000 : 0;
  } else if (src.tag_in_mac) {
    start = 0;
  }
  rt.key_start_index = start;
  std::memcpy(rt.emk.data(), src.emk, src.emk_len);
  rt.emk_len = src.emk_len;
  rt.emk_roc = src.field_roc;
  rt.packets = 0;  // a new key starts a new lifetime
  c.ekt_keys_learned.Add();
}

Drop Commit(PacketRef& p, InMeta& m, InMeta* w_in, WorkerCounters& c,
            std::atomic<uint32_t>* gates, uint64_t now_ms) {
  const StreamEntry& e = *m.entry;
  StreamRt& rt = *m.rt;
  const uint8_t* tag;
  if (e.kind == StreamKind::kSrtp) {
    // Restore what staging overwrote; the saved bytes are the received tag.
    std::memcpy(p.data + m.auth_end, m.saved, e.tag_len);
    tag = m.saved;
  } else {
    tag = p.data + m.auth_end;
  }
  const bool ok1 = SameTag(m.mac, tag, e.tag_len);
  const bool ok2 = m.dual && !m.dual_only && SameTag(m.mac2, tag, e.tag_len);
  if (!ok1 && !ok2) return m.learning ? Drop::kEktKeyUnverified : Drop::kAuthFailed;
  // An earlier packet of the same burst may have taken this index (a duplicate within the burst)
  // or moved the window past it.
  switch (rt.replay.Check(m.index)) {
    case ReplayVerdict::kNew: break;
    case ReplayVerdict::kDuplicate: return Drop::kReplayDuplicate;
    case ReplayVerdict::kTooOld: return Drop::kReplayTooOld;
  }
  // Verified: a key this packet (or an earlier one in the burst) announced is now proven.
  if (m.learning) {
    InstallLearned(rt, m, m.index, c);
  } else if (m.dual_only) {
    InstallLearned(rt, w_in[m.dual_from], m.index, c);  // `mac` was computed with the new key
  } else if (ok2 && !ok1) {
    if (m.dual_pending) InstallLearned(rt, w_in[m.dual_from], m.index, c);
    m.key = m.key2;  // re-tag with the key that verified
  }
  rt.replay.Update(m.index);
  rt.last_accept_ms = now_ms;
  if (e.source_policy == SourcePolicy::kLatch && !rt.has_latched) {
    // Behind NAT: the first packet that verified names the leg's source from now on.
    rt.latched = p.from;
    rt.latched_port = p.from_port;
    rt.has_latched = true;
  }
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
      // A switch to this source takes effect here: this packet is the first its new receivers
      // get (release: the old source's workers see the gate before they see anything after it).
      // Only the newest packet counts: a late first packet of an older refresh frame would start
      // the receivers on a frame whose other packets were never sent to them.
      if (e.gate != 0 && m.index == rt.replay.highest()) {
        gates[e.gate].store(e.gate_serial, std::memory_order_release);
      }
    }
  }
  // Decided per packet, at acceptance: a packet before the refresh in the same burst stays out.
  m.gate_open = e.gate != 0 && gates[e.gate].load(std::memory_order_acquire) == e.gate_serial;
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
  ++w.burst_serial_;
  w.now_ms_ = w.clock_();
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
    MacJob job, job2;
    p.drop = Prepare(snap, w, p, static_cast<uint16_t>(i), sc.in.data(), job, job2);
    if (p.drop == Drop::kNone) {
      if (!sc.in[i].preverified) {
        kernel.Submit(job);
        ++njobs;
      }
      if (sc.in[i].dual && !sc.in[i].dual_only) {
        kernel.Submit(job2);
        ++njobs;
      }
    }
  }
  kernel.Flush();
  c.verify_macs.Add(njobs);

  // 3. Verdicts, in arrival order, so duplicates inside one burst are caught.
  uint16_t accepted = 0;
  for (size_t i = 0; i < n; ++i) {
    PacketRef& p = pkts[i];
    if (p.drop != Drop::kNone) continue;
    p.drop = Commit(p, sc.in[i], sc.in.data(), c, snap.gate_cells(), w.now_ms_);
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
    const size_t tag_len = e.tag_len;
    const size_t carry = m.carry_len;
    const uint8_t* carry_src = p.data + m.auth_end + tag_len;
    const size_t out_len = out_auth + tag_len + carry;
    // In-tag stages the ROC after the end; the others where the tag starts (the tag is >= 4).
    const size_t need = m.tag_in_mac ? out_len + kRocLen : std::max(out_len, out_auth + kRocLen);
    const bool carries_all = m.auth_end + tag_len + carry == p.len;
    const uint32_t csrc_in = m.csrc_count ? LoadBe32(p.data + kRtpFixedHeader) : 0;
    for (const RouteGroup& g : snap.Groups(e)) {
      if (g.gate_mode != GateMode::kNone) {
        const bool open = g.gate == e.gate && g.gate_serial == e.gate_serial
                              ? m.gate_open
                              : snap.gate_cells()[g.gate].load(std::memory_order_acquire) ==
                                    g.gate_serial;
        if (open != (g.gate_mode == GateMode::kAfterOpen)) continue;
      }
      const auto dests = snap.Dests(g);
      const uint32_t csrc = g.rewrite_csrc ? ((csrc_in & g.csrc_and) | g.csrc_or) : csrc_in;
      if (strip == 0 && csrc == csrc_in && carries_all) {
        // Byte-identical to the verified input: forward its bytes and its (verified) tag.
        for (const Destination& d : dests) {
          OutPacket* o = take_slot(p.len);
          if (o == nullptr) continue;
          std::memcpy(o->data, p.data, p.len);
          o->len = p.len;
          o->egress = d.egress;
          o->source = m.rank;
          o->copy_of = static_cast<uint16_t>(o - out.data());
          o->shared_end = p.len;
        }
        continue;
      }
      OutPacket* o = take_slot(need);
      if (o == nullptr) {
        // The same slot would refuse the group's other receivers too; count each of them.
        CountDrop(c, last_fail, dests.size() - 1);
        continue;
      }
      std::memcpy(o->data, p.data, out_auth);
      if (m.csrc_count) StoreBe32(o->data + kRtpFixedHeader, csrc);
      std::memcpy(o->data + out_auth + tag_len, carry_src, carry);  // EKT fields, unchanged
      const uint32_t roc = static_cast<uint32_t>(m.index >> 16);
      uint32_t mac_len;
      if (m.tag_in_mac) {
        std::memset(o->data + out_auth, 0, tag_len);
        StoreBe32(o->data + out_len, roc);
        mac_len = static_cast<uint32_t>(out_len + kRocLen);
      } else {
        StoreBe32(o->data + out_auth, roc);
        mac_len = static_cast<uint32_t>(out_auth + kRocLen);
      }
      o->egress = dests[0].egress;
      o->source = m.rank;
      o->copy_of = static_cast<uint16_t>(o - out.data());
      o->shared_end = static_cast<uint16_t>(out_auth);
      OutMeta& om = sc.out[nout];
      om.slot = static_cast<uint16_t>(o - out.data());
      om.tag_at = static_cast<uint16_t>(out_auth);
      om.len = static_cast<uint16_t>(out_len);
      om.tag_len = static_cast<uint8_t>(tag_len);
      om.dup_count = 0;
      kernel.Submit(MacJob{o->data, mac_len, &m.key, om.mac});
      ++nout;
      for (size_t k = 1; k < dests.size(); ++k) {
        OutPacket* dup = take_slot(out_len);
        if (dup == nullptr) continue;
        dup->egress = dests[k].egress;
        dup->source = m.rank;
        dup->copy_of = om.slot;
        dup->shared_end = static_cast<uint16_t>(out_auth);
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
    o.len = om.len;
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
  // Keys a packet announced live on only in the stream state once installed.
  // `key` too: a learning packet's is the provisional key, and a failed one's may be a forger's.
  for (size_t i = 0; i < n; ++i) {
    if (sc.in[i].learning || sc.in[i].dual) {
      OPENSSL_cleanse(&sc.in[i].prov, sizeof(HmacSha1Key));
      OPENSSL_cleanse(&sc.in[i].key2, sizeof(HmacSha1Key));
      OPENSSL_cleanse(&sc.in[i].key, sizeof(HmacSha1Key));
    }
  }
  return BurstResult{accepted, static_cast<uint16_t>(slot)};
}

}  // namespace mpswitch::dataplane
