#include "mpswitch/ekt/endpoint.h"

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include <cstring>

#include "absl/strings/str_format.h"
#include "mpswitch/dataplane/core/packet.h"
#include "mpswitch/ekt/key_codec.h"

namespace mpswitch::ekt {
namespace {

using dataplane::HmacSha1Key;
using dataplane::LoadBe16;
using dataplane::LoadBe32;
using dataplane::MasterKey;
using dataplane::StoreBe16;
using dataplane::StoreBe32;

// HMAC-SHA1 over data || ROC, the first `tag_len` bytes into `tag`.
void Tag(const HmacSha1Key& k, std::span<const uint8_t> data, uint32_t roc, size_t tag_len,
         uint8_t* tag) {
  std::vector<uint8_t> buf(data.begin(), data.end());
  buf.resize(buf.size() + 4);
  StoreBe32(buf.data() + data.size(), roc);
  uint8_t mac[20];
  dataplane::HmacSha1(k, buf, mac);
  std::memcpy(tag, mac, tag_len);
}

absl::StatusOr<HmacSha1Key> AuthKeyOf(const MasterKey& m) {
  auto keys = dataplane::DeriveSessionKeys(m, dataplane::KeyUse::kSrtp);
  if (!keys.ok()) return keys.status();
  HmacSha1Key k = HmacSha1Key::FromKey(keys->auth);
  OPENSSL_cleanse(&*keys, sizeof(*keys));
  return k;
}

dataplane::SrtpProfile Profile(bool tag_32) {
  return tag_32 ? dataplane::SrtpProfile::kAesCm128HmacSha1_32
                : dataplane::SrtpProfile::kAesCm128HmacSha1_80;
}

}  // namespace

absl::StatusOr<std::unique_ptr<EktSender>> EktSender::Create(const GroupParams& g, uint32_t ssrc,
                                                             bool video,
                                                             std::optional<MasterKey> initial_key) {
  if (auto s = Validate(g); !s.ok()) return s;
  auto w = KeyWrapper::Create(g.kek);
  if (!w.ok()) return w.status();
  std::unique_ptr<EktSender> s(new EktSender(g, std::move(*w)));
  s->ssrc_ = ssrc;
  s->video_ = video;
  if (auto st = s->ChangeKey(initial_key); !st.ok()) return st;
  s->epoch_ = 0;
  return s;
}

absl::Status EktSender::ChangeKey(std::optional<MasterKey> key) {
  MasterKey m;
  if (key) {
    m.key = key->key;
  } else if (RAND_bytes(m.key.data(), static_cast<int>(m.key.size())) != 1) {
    return absl::InternalError("OpenSSL RAND_bytes failed: cannot draw a master key");
  }
  m.salt = group_.salt;  // every sender of a group uses the group's salt (PROTOCOLS.md §4)
  ++epoch_;
  force_long_ = 3;
  isn_.reset();
  return Install(m);
}

absl::Status EktSender::ChangeGroup(const GroupParams& g) {
  if (auto s = Validate(g); !s.ok()) return s;
  if (g.format != group_.format || g.tag_32 != group_.tag_32) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "EKT SPI %d: a rotated group must keep the format and SRTP profile of SPI %d", g.spi,
        group_.spi));
  }
  auto w = KeyWrapper::Create(g.kek);
  if (!w.ok()) return w.status();
  group_ = g;
  wrapper_ = std::move(*w);
  return ChangeKey();
}

absl::Status EktSender::Install(const MasterKey& m) {
  auto crypto = dataplane::SrtpCryptoContext::Create(m, Profile(group_.tag_32));
  if (!crypto.ok()) return crypto.status();
  auto mac = AuthKeyOf(m);
  if (!mac.ok()) return mac.status();
  auto rtcp = dataplane::SrtpCryptoContext::CreateRtcp(m);
  if (!rtcp.ok()) return rtcp.status();
  master_ = m;
  crypto_.emplace(std::move(*crypto));
  rtcp_crypto_.emplace(std::move(*rtcp));
  mac_ = *mac;
  MasterKeyBytes kb;
  std::copy(m.key.begin(), m.key.end(), kb.begin());
  if (group_.format == EktFormat::kInTag) {
    emk_.assign(InTagEmkLen(group_.cipher), 0);
    EncryptInTagEmk(wrapper_, group_.cipher, kb, emk_);
  } else {
    emk_.clear();  // RFC 8870 binds SSRC and ROC into the ciphertext: built per packet
  }
  OPENSSL_cleanse(kb.data(), kb.size());
  return absl::OkStatus();
}

void EktSender::AppendInTagLong(std::vector<uint8_t>& p) const {
  p.insert(p.end(), emk_.begin(), emk_.end());
  uint8_t f[8];
  StoreBe32(f, roc_);
  StoreBe16(f + 4, isn_.value_or(0));
  StoreBe16(f + 6, static_cast<uint16_t>((group_.spi << 1) | 1));
  p.insert(p.end(), f, f + 8);
}

void EktSender::AppendRfc8870Full(std::vector<uint8_t>& p) const {
  MasterKeyBytes kb;
  std::copy(master_.key.begin(), master_.key.end(), kb.begin());
  uint8_t ct[kRfc8870CiphertextLen];
  EncryptRfc8870(wrapper_, kb, ssrc_, roc_, ct);
  OPENSSL_cleanse(kb.data(), kb.size());
  p.insert(p.end(), ct, ct + sizeof(ct));
  uint8_t f[7];
  StoreBe16(f, group_.spi);
  StoreBe16(f + 2, epoch_);
  StoreBe16(f + 4, kRfc8870FullLen);
  f[6] = kRfc8870TypeFull;
  p.insert(p.end(), f, f + 7);
}

bool EktSender::LongNext(bool frame_start) {
  if (force_long_ > 0) {
    --force_long_;
    return true;
  }
  return video_ ? frame_start : (packets_ % 3 == 0);
}

std::vector<uint8_t> EktSender::Protect(std::span<const uint8_t> rtp,
                                        std::optional<uint8_t> trailing, bool frame_start) {
  const size_t tag_len = group_.tag_32 ? 4 : 10;
  const uint16_t seq = LoadBe16(rtp.data() + 2);
  if (last_seq_ && seq < *last_seq_ && *last_seq_ - seq > 0x8000) ++roc_;
  last_seq_ = seq;
  if (!isn_) isn_ = seq;
  const bool long_form = LongNext(frame_start);
  ++packets_;

  std::vector<uint8_t> p(rtp.begin(), rtp.end());
  crypto_->Crypt(p.data(), p.size(), roc_);
  if (trailing) p.push_back(*trailing);
  const size_t auth_len = p.size();

  if (group_.format == EktFormat::kInTag) {
    p.resize(auth_len + tag_len, 0);  // base tag, zero while the MAC is computed
    if (long_form) {
      AppendInTagLong(p);
    } else {
      p.push_back(0x00);
    }
    uint8_t tag[10];
    Tag(mac_, p, roc_, tag_len, tag);
    std::memcpy(p.data() + auth_len, tag, tag_len);
    return p;
  }
  uint8_t tag[10];
  Tag(mac_, p, roc_, tag_len, tag);
  p.insert(p.end(), tag, tag + tag_len);
  if (long_form) {
    AppendRfc8870Full(p);
  } else {
    p.push_back(kRfc8870TypeShort);
  }
  return p;
}

absl::StatusOr<const GroupParams*> EktReceiver::Unwrap(uint16_t spi, std::span<const uint8_t> ct,
                                                      uint32_t ssrc, MasterKeyBytes& key,
                                                      uint32_t& roc) const {
  const GroupParams* g = groups_.Find(spi);
  if (g == nullptr) return absl::NotFoundError(absl::StrFormat("unknown EKT SPI %d", spi));
  auto w = KeyWrapper::Create(g->kek);
  if (!w.ok()) return w.status();
  const bool ok = format_ == EktFormat::kInTag ? DecryptInTagEmk(*w, g->cipher, ct, key)
                                               : DecryptRfc8870(*w, ct, ssrc, key, roc);
  if (!ok) return absl::PermissionDeniedError("EKT key does not unwrap under the group KEK");
  return g;
}

std::vector<uint8_t> EktSender::ProtectRtcp(std::span<const uint8_t> rtcp) {
  std::vector<uint8_t> p(rtcp.begin(), rtcp.end());
  const uint32_t index = srtcp_index_++ & 0x7FFFFFFF;
  rtcp_crypto_->CryptRtcp(p.data(), p.size(), index);
  uint8_t word[4];
  StoreBe32(word, 0x80000000u | index);  // E: encrypted
  p.insert(p.end(), word, word + 4);
  const size_t auth_len = p.size();
  uint8_t tag[10];
  if (group_.format == EktFormat::kInTag) {
    p.resize(auth_len + 10, 0);
    AppendInTagLong(p);
    rtcp_crypto_->RtcpTag(p.data(), p.size(), tag);  // no ROC for SRTCP
    std::memcpy(p.data() + auth_len, tag, 10);
    return p;
  }
  rtcp_crypto_->RtcpTag(p.data(), p.size(), tag);
  p.insert(p.end(), tag, tag + 10);
  AppendRfc8870Full(p);
  return p;
}

absl::StatusOr<EktReceiver::Received> EktReceiver::ReceiveRtcp(std::span<const uint8_t> pkt) {
  if (pkt.size() < 8) return absl::InvalidArgumentError("shorter than an RTCP header");
  const uint32_t ssrc = LoadBe32(pkt.data() + 4);
  std::span<const uint8_t> ct;
  uint16_t spi = 0;
  uint32_t roc = 0;
  size_t auth_end;
  if (format_ == EktFormat::kInTag) {
    InTagView v;
    auto emk_len = [&](uint16_t s) -> size_t {
      const GroupParams* g = groups_.Find(s);
      return g && g->format == EktFormat::kInTag ? InTagEmkLen(g->cipher) : 0;
    };
    if (ParseInTag(pkt, 10, 12, emk_len, v) != ParseError::kNone || !v.long_form) {
      return absl::InvalidArgumentError("SRTCP without a long in-tag EKT field");
    }
    auth_end = pkt.size() - v.trailer_len;
    ct = v.emk;
    spi = v.spi;
  } else {
    Rfc8870View f;
    if (ParseRfc8870(pkt, 12 + 10, f) != ParseError::kNone || f.type != kRfc8870TypeFull) {
      return absl::InvalidArgumentError("SRTCP without a full RFC 8870 EKTField");
    }
    auth_end = pkt.size() - f.field_len - 10;
    ct = f.ciphertext;
    spi = f.spi;
  }
  MasterKeyBytes kb;
  auto g = Unwrap(spi, ct, ssrc, kb, roc);
  if (!g.ok()) return g.status();
  Received r;
  r.ssrc = ssrc;
  std::copy(kb.begin(), kb.end(), r.master.key.begin());
  r.master.salt = (*g)->salt;
  OPENSSL_cleanse(kb.data(), kb.size());
  auto ctx = dataplane::SrtpCryptoContext::CreateRtcp(r.master);
  if (!ctx.ok()) return ctx.status();
  uint8_t want[10];
  if (format_ == EktFormat::kInTag) {
    std::vector<uint8_t> z(pkt.begin(), pkt.end());
    std::memset(z.data() + auth_end, 0, 10);
    ctx->RtcpTag(z.data(), z.size(), want);
  } else {
    ctx->RtcpTag(pkt.data(), auth_end, want);
  }
  if (CRYPTO_memcmp(want, pkt.data() + auth_end, 10) != 0) {
    return absl::PermissionDeniedError("SRTCP tag does not verify");
  }
  r.srtp.assign(pkt.begin(), pkt.begin() + auth_end);
  ctx->RtcpTag(r.srtp.data(), r.srtp.size(), want);
  r.srtp.insert(r.srtp.end(), want, want + 10);
  r.learned_now = true;
  return r;
}

absl::StatusOr<EktReceiver::Received> EktReceiver::Receive(std::span<const uint8_t> pkt) {
  if (pkt.size() < 12) return absl::InvalidArgumentError("shorter than an RTP header");
  const uint32_t ssrc = LoadBe32(pkt.data() + 8);
  const uint16_t seq = LoadBe16(pkt.data() + 2);
  Learned& l = by_ssrc_[ssrc];

  size_t auth_end;
  bool announces = false;
  std::span<const uint8_t> ct;
  uint16_t spi = 0, epoch = 0;
  uint32_t field_roc = 0;
  if (format_ == EktFormat::kInTag) {
    InTagView v;
    auto emk_len = [&](uint16_t s) -> size_t {
      const GroupParams* g = groups_.Find(s);
      return g && g->format == EktFormat::kInTag ? InTagEmkLen(g->cipher) : 0;
    };
    if (ParseInTag(pkt, tag_len_, 12, emk_len, v) != ParseError::kNone) {
      return absl::InvalidArgumentError("bad in-tag EKT trailer or unknown SPI");
    }
    auth_end = pkt.size() - v.trailer_len;
    announces = v.long_form;
    ct = v.emk;
    spi = v.spi;
    field_roc = v.roc;
  } else {
    Rfc8870View f;
    if (ParseRfc8870(pkt, 12 + tag_len_, f) != ParseError::kNone) {
      return absl::InvalidArgumentError("bad RFC 8870 EKTField");
    }
    auth_end = pkt.size() - f.field_len - tag_len_;
    announces = f.type == kRfc8870TypeFull;
    ct = f.ciphertext;
    spi = f.spi;
    epoch = f.epoch;
  }

  Received r;
  r.ssrc = ssrc;
  Learned cand = l;
  if (announces && (l.emk.size() != ct.size() || !std::equal(ct.begin(), ct.end(), l.emk.begin()))) {
    MasterKeyBytes kb;
    auto unwrapped = Unwrap(spi, ct, ssrc, kb, field_roc);
    if (!unwrapped.ok()) return unwrapped.status();
    const GroupParams* g = *unwrapped;
    const bool same_key = !l.emk.empty() && std::equal(kb.begin(), kb.end(), l.master.key.begin());
    if (format_ == EktFormat::kRfc8870 && !l.emk.empty() && !same_key &&
        static_cast<int16_t>(epoch - l.epoch) <= 0) {
      return absl::PermissionDeniedError("RFC 8870 epoch rollback");
    }
    r.learned_now = !same_key;
    std::copy(kb.begin(), kb.end(), cand.master.key.begin());
    cand.master.salt = g->salt;
    OPENSSL_cleanse(kb.data(), kb.size());
    auto mac = AuthKeyOf(cand.master);
    if (!mac.ok()) return mac.status();
    cand.mac = *mac;
    cand.emk.assign(ct.begin(), ct.end());
    cand.epoch = epoch;
    if (!l.window.initialized()) cand.window.ResetWithRoc(field_roc);
  } else if (l.emk.empty()) {
    return absl::FailedPreconditionError("no key learned yet for this SSRC");
  }

  const uint64_t index = cand.window.EstimateSrtpIndex(seq);
  if (index > dataplane::kMaxSrtpIndex) return absl::OutOfRangeError("index out of range");
  // A receiver refuses replays (RFC 3711 §3.3.2), checked against the window the packet would
  // update: a genuine old packet sent again verifies, and must not be delivered twice.
  switch (cand.window.Check(index)) {
    case dataplane::ReplayVerdict::kNew: break;
    case dataplane::ReplayVerdict::kDuplicate: return absl::AlreadyExistsError("replayed packet");
    case dataplane::ReplayVerdict::kTooOld: return absl::OutOfRangeError("packet older than the replay window");
  }
  const uint32_t roc = static_cast<uint32_t>(index >> 16);
  uint8_t want[10];
  if (format_ == EktFormat::kInTag) {
    std::vector<uint8_t> z(pkt.begin(), pkt.end());
    std::memset(z.data() + auth_end, 0, tag_len_);
    Tag(cand.mac, z, roc, tag_len_, want);
  } else {
    Tag(cand.mac, pkt.first(auth_end), roc, tag_len_, want);
  }
  if (CRYPTO_memcmp(want, pkt.data() + auth_end, tag_len_) != 0) {
    return absl::PermissionDeniedError("tag does not verify");
  }
  cand.window.Update(index);
  l = std::move(cand);  // verified: install (or keep) the key

  // Plain RFC 3711: authenticated portion + tag computed by the plain rule with the same key.
  r.srtp.assign(pkt.begin(), pkt.begin() + auth_end);
  uint8_t tag[10];
  Tag(l.mac, r.srtp, roc, tag_len_, tag);
  r.srtp.insert(r.srtp.end(), tag, tag + tag_len_);
  r.master = l.master;
  r.roc = roc;
  return r;
}

}  // namespace mpswitch::ekt
