#include "mpswitch/dataplane/tables/snapshot.h"

#include <openssl/crypto.h>
#include <openssl/sha.h>

#include <cstring>

#include <algorithm>

#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/strings/str_format.h"

namespace mpswitch::dataplane {
namespace {

struct Rewrite {
  bool on;
  uint32_t and_mask;
  uint32_t or_bits;
  GateMode gate_mode = GateMode::kNone;
  GateRef gate;
  bool operator==(const Rewrite&) const = default;
};

Rewrite Compile(const std::optional<CsrcRewrite>& r) {
  if (!r) return {false, ~uint32_t{0}, 0, GateMode::kNone, {}};
  uint32_t and_mask = ~uint32_t{0x0f};
  uint32_t or_bits = r->sink & 0x0f;
  if (r->output) {
    and_mask &= ~uint32_t{0xf00};
    or_bits |= uint32_t{*r->output & 0x0fu} << 8;
  }
  return {true, and_mask, or_bits, GateMode::kNone, {}};
}

}  // namespace

void Snapshot::Wipe() {
  for (StreamEntry& e : streams_) OPENSSL_cleanse(&e.mac_key, sizeof(e.mac_key));
  for (EktGroupEntry& g : groups_ekt_) OPENSSL_cleanse(g.kek.data(), g.kek.size());
}

Snapshot::~Snapshot() { Wipe(); }

Snapshot& Snapshot::operator=(Snapshot&& o) noexcept {
  if (this != &o) {
    Wipe();
    index_ = std::move(o.index_);
    streams_ = std::move(o.streams_);
    groups_ = std::move(o.groups_);
    dests_ = std::move(o.dests_);
    group_index_ = std::move(o.group_index_);
    groups_ekt_ = std::move(o.groups_ekt_);
    slot_bound_ = o.slot_bound_;
    gate_cells_ = o.gate_cells_;
  }
  return *this;
}

absl::StatusOr<Snapshot> Snapshot::Build(std::span<const StreamConfig> configs,
                                         std::span<const ekt::GroupParams> ekt_groups,
                                         const GateBank* gates) {
  Snapshot s;
  if (gates != nullptr) s.gate_cells_ = gates->cells();
  // Reserved so that neither vector reallocates: a reallocation would free a copy of every KEK
  // or session key unwiped.
  s.groups_ekt_.reserve(ekt_groups.size());
  s.streams_.reserve(configs.size());
  auto gate_ok = [&](GateRef g) { return gates != nullptr && g.index != 0 && g.index < gates->size(); };
  for (const ekt::GroupParams& g : ekt_groups) {
    if (auto st = ekt::Validate(g); !st.ok()) return st;
    if (!s.group_index_.emplace(g.spi, static_cast<uint32_t>(s.groups_ekt_.size())).second) {
      return absl::InvalidArgumentError(absl::StrFormat("EKT SPI %d is configured twice", g.spi));
    }
    EktGroupEntry ge;
    ge.spi = g.spi;
    ge.cipher = g.cipher;
    ge.format = g.format;
    ge.kek_len = static_cast<uint8_t>(g.kek.size());
    std::copy(g.kek.begin(), g.kek.end(), ge.kek.begin());
    ge.salt = g.salt;
    // Equal for equal (SPI, KEK) across snapshots; a one-way digest so the id says nothing of the
    // KEK. The input is built on the stack and wiped: no heap copy of the KEK is left behind.
    uint8_t digest[SHA256_DIGEST_LENGTH];
    uint8_t in[34];
    std::copy(g.kek.begin(), g.kek.end(), in);
    in[g.kek.size()] = static_cast<uint8_t>(g.spi >> 8);
    in[g.kek.size() + 1] = static_cast<uint8_t>(g.spi);
    SHA256(in, g.kek.size() + 2, digest);
    std::memcpy(&ge.id, digest, sizeof(ge.id));
    OPENSSL_cleanse(in, sizeof(in));
    s.groups_ekt_.push_back(ge);
    OPENSSL_cleanse(&ge, sizeof(ge));
  }
  if (s.groups_ekt_.size() >= kNoEktGroup) {
    return absl::InvalidArgumentError(absl::StrFormat("%d EKT groups; at most %d",
                                                      s.groups_ekt_.size(), kNoEktGroup - 1));
  }
  absl::flat_hash_set<uint32_t> slots;
  absl::flat_hash_set<uint16_t> opened_gates;
  for (const StreamConfig& c : configs) {
    const uint64_t key = Key(c.local_port, c.ssrc, c.kind);
    const char* kind = c.kind == StreamKind::kSrtp ? "SRTP" : "SRTCP";
    if (!s.index_.emplace(key, static_cast<uint32_t>(s.streams_.size())).second) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "%s stream SSRC 0x%08x on port %d is configured twice", kind, c.ssrc, c.local_port));
    }
    if (!slots.insert(c.rt_slot).second) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "rt_slot %d is used by two streams (the second is %s SSRC 0x%08x on port %d)", c.rt_slot,
          kind, c.ssrc, c.local_port));
    }
    if (c.rt_slot == ~uint32_t{0}) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "%s stream SSRC 0x%08x: rt_slot 0xffffffff is out of range", kind, c.ssrc));
    }
    if (c.key_epoch == 0) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "%s stream SSRC 0x%08x: key_epoch 0 is reserved for 'no key installed'", kind, c.ssrc));
    }
    if (c.routes.size() > 0xffff) {
      return absl::InvalidArgumentError(
          absl::StrFormat("%s stream SSRC 0x%08x has %d routes; at most 65535", kind, c.ssrc,
                          c.routes.size()));
    }
    if (c.trailer != TrailerFormat::kPlain && c.kind != StreamKind::kSrtp) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "SRTCP stream SSRC 0x%08x: EKT trailers are supported on SRTP streams only", c.ssrc));
    }
    StreamEntry e;
    if (c.trailer == TrailerFormat::kPlain) {
      auto keys = DeriveSessionKeys(
          c.master, c.kind == StreamKind::kSrtp ? KeyUse::kSrtp : KeyUse::kSrtcp);
      if (!keys.ok()) return keys.status();
      e.mac_key = HmacSha1Key::FromKey(keys->auth);
      OPENSSL_cleanse(&*keys, sizeof(*keys));
      // Not a secret: SHA-1 chaining values of the padded key do not reveal it, and the id is
      // only compared for equality.
      e.key_id = (uint64_t{e.mac_key.inner[0]} << 32 | e.mac_key.inner[1]) ^
                 (uint64_t{e.mac_key.outer[0]} << 16) ^ key;
    } else {
      // The key comes from the packets; the id only has to tell this stream from a slot's
      // previous owner.
      e.key_id = key ^ (uint64_t{static_cast<uint8_t>(c.trailer)} << 62);
    }
    if (c.trailer != TrailerFormat::kPlain) {
      const ekt::EktFormat want = c.trailer == TrailerFormat::kEktInTag ? ekt::EktFormat::kInTag
                                                                        : ekt::EktFormat::kRfc8870;
      auto resolve = [&](uint16_t spi, uint16_t& out) -> absl::Status {
        auto it = s.group_index_.find(spi);
        if (it == s.group_index_.end() || s.groups_ekt_[it->second].format != want) {
          return absl::InvalidArgumentError(absl::StrFormat(
              "%s stream SSRC 0x%08x on port %d names EKT SPI %d, which is not a configured %s "
              "group", kind, c.ssrc, c.local_port, spi, ekt::EktFormatName(want)));
        }
        out = static_cast<uint16_t>(it->second);
        return absl::OkStatus();
      };
      if (auto st = resolve(c.ekt_spi, e.ekt_group); !st.ok()) return st;
      if (c.ekt_spi_retiring != 0 && c.ekt_spi_retiring != c.ekt_spi) {
        if (auto st = resolve(c.ekt_spi_retiring, e.ekt_group_alt); !st.ok()) return st;
      }
    }
    if (c.source_policy == SourcePolicy::kSignalled &&
        (c.source.family == 0 || c.source_port == 0)) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "%s stream SSRC 0x%08x on port %d: a signalled source needs an address and a port",
          kind, c.ssrc, c.local_port));
    }
    e.source_policy = c.source_policy;
    e.source = c.source;
    e.source_port = c.source_port;
    e.rt_slot = c.rt_slot;
    e.key_epoch = c.key_epoch;
    e.initial_roc = c.initial_roc;
    e.local_port = c.local_port;
    e.ssrc = c.ssrc;
    e.kind = c.kind;
    e.trailer = c.trailer;
    e.tag_len = static_cast<uint8_t>(c.kind == StreamKind::kSrtp ? SrtpTagLen(c.profile)
                                                                 : kSrtcpTagLen);
    // RTCP carries neither the trailing byte nor a MUX-CSRC: its routes forward verified copies.
    e.trailing = c.kind == StreamKind::kSrtp ? c.trailing : TrailingByte::kNone;

    if (c.opens_gate.index != 0) {
      if (!gate_ok(c.opens_gate) || c.kind != StreamKind::kSrtp ||
          c.trailing != TrailingByte::kVideoRefresh || c.opens_gate.serial == 0) {
        return absl::InvalidArgumentError(absl::StrFormat(
            "%s stream SSRC 0x%08x opens gate %d serial %d: it needs a gate bank holding it, a "
            "non-zero serial and an SRTP stream with the video refresh byte",
            kind, c.ssrc, c.opens_gate.index, c.opens_gate.serial));
      }
      if (!opened_gates.insert(c.opens_gate.index).second) {
        return absl::InvalidArgumentError(absl::StrFormat(
            "gate %d is opened by two streams (the second is SSRC 0x%08x)", c.opens_gate.index,
            c.ssrc));
      }
      e.gate = c.opens_gate.index;
      e.gate_serial = c.opens_gate.serial;
    }
    // Group routes whose output bytes and gating are identical, keeping first-seen order so
    // outputs come out in configuration order within a group.
    std::vector<Rewrite> seen;
    std::vector<std::vector<uint32_t>> members;
    for (const RouteConfig& r : c.routes) {
      if (r.gate_mode != GateMode::kNone &&
          (!gate_ok(r.gate) || (r.gate_mode == GateMode::kAfterOpen && !(r.gate == c.opens_gate)))) {
        return absl::InvalidArgumentError(absl::StrFormat(
            "%s stream SSRC 0x%08x: route to egress %d is gated on gate %d, which %s", kind,
            c.ssrc, r.egress, r.gate.index,
            gate_ok(r.gate) ? "the stream does not open" : "is not in the gate bank"));
      }
      Rewrite rw = c.kind == StreamKind::kSrtp ? Compile(r.csrc) : Compile(std::nullopt);
      rw.gate_mode = r.gate_mode;
      rw.gate = r.gate_mode == GateMode::kNone ? GateRef{} : r.gate;
      auto it = std::find(seen.begin(), seen.end(), rw);
      if (it == seen.end()) {
        seen.push_back(rw);
        members.push_back({r.egress});
      } else {
        members[it - seen.begin()].push_back(r.egress);
      }
    }
    e.first_group = static_cast<uint32_t>(s.groups_.size());
    e.group_count = static_cast<uint16_t>(seen.size());
    for (size_t g = 0; g < seen.size(); ++g) {
      RouteGroup rg;
      rg.rewrite_csrc = seen[g].on;
      rg.csrc_and = seen[g].and_mask;
      rg.csrc_or = seen[g].or_bits;
      rg.first_dest = static_cast<uint32_t>(s.dests_.size());
      rg.dest_count = static_cast<uint16_t>(members[g].size());
      rg.gate_mode = seen[g].gate_mode;
      rg.gate = seen[g].gate.index;
      rg.gate_serial = seen[g].gate.serial;
      for (uint32_t egress : members[g]) s.dests_.push_back({egress});
      e.needs_csrc |= rg.rewrite_csrc;
      s.groups_.push_back(rg);
    }
    s.slot_bound_ = std::max(s.slot_bound_, c.rt_slot + 1);
    s.streams_.push_back(e);
    OPENSSL_cleanse(&e.mac_key, sizeof(e.mac_key));
  }
  return s;
}

}  // namespace mpswitch::dataplane
