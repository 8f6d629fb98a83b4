#include "mpswitch/dataplane/tables/snapshot.h"

#include <openssl/crypto.h>

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
  bool operator==(const Rewrite&) const = default;
};

Rewrite Compile(const std::optional<CsrcRewrite>& r) {
  if (!r) return {false, ~uint32_t{0}, 0};
  uint32_t and_mask = ~uint32_t{0x0f};
  uint32_t or_bits = r->sink & 0x0f;
  if (r->output) {
    and_mask &= ~uint32_t{0xf00};
    or_bits |= uint32_t{*r->output & 0x0fu} << 8;
  }
  return {true, and_mask, or_bits};
}

}  // namespace

absl::StatusOr<Snapshot> Snapshot::Build(std::span<const StreamConfig> configs) {
  Snapshot s;
  s.streams_.reserve(configs.size());
  absl::flat_hash_set<uint32_t> slots;
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
    auto keys = DeriveSessionKeys(
        c.master, c.kind == StreamKind::kSrtp ? KeyUse::kSrtp : KeyUse::kSrtcp);
    if (!keys.ok()) return keys.status();

    StreamEntry e;
    e.mac_key = HmacSha1Key::FromKey(keys->auth);
    // Not a secret: SHA-1 chaining values of the padded key do not reveal it, and the id is only
    // compared for equality.
    e.key_id = (uint64_t{e.mac_key.inner[0]} << 32 | e.mac_key.inner[1]) ^
               (uint64_t{e.mac_key.outer[0]} << 16) ^ key;
    OPENSSL_cleanse(&*keys, sizeof(*keys));
    e.rt_slot = c.rt_slot;
    e.key_epoch = c.key_epoch;
    e.initial_roc = c.initial_roc;
    e.local_port = c.local_port;
    e.ssrc = c.ssrc;
    e.kind = c.kind;
    e.trailer = TrailerFormat::kPlain;
    e.tag_len = static_cast<uint8_t>(c.kind == StreamKind::kSrtp ? SrtpTagLen(c.profile)
                                                                 : kSrtcpTagLen);
    // RTCP carries neither the trailing byte nor a MUX-CSRC: its routes forward verified copies.
    e.trailing = c.kind == StreamKind::kSrtp ? c.trailing : TrailingByte::kNone;

    // Group routes whose output bytes are identical, keeping first-seen order so outputs come out
    // in configuration order within a group.
    std::vector<Rewrite> seen;
    std::vector<std::vector<uint32_t>> members;
    for (const RouteConfig& r : c.routes) {
      const Rewrite rw = c.kind == StreamKind::kSrtp ? Compile(r.csrc) : Compile(std::nullopt);
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
      for (uint32_t egress : members[g]) s.dests_.push_back({egress});
      e.needs_csrc |= rg.rewrite_csrc;
      s.groups_.push_back(rg);
    }
    s.slot_bound_ = std::max(s.slot_bound_, c.rt_slot + 1);
    s.streams_.push_back(e);
  }
  return s;
}

}  // namespace mpswitch::dataplane
