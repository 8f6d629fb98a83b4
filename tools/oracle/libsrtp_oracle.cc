#include "mpswitch/oracle/libsrtp_oracle.h"

#include <cstdlib>
#include <cstring>
#include <mutex>
#include <stdexcept>

#include "mpswitch/dataplane/core/packet.h"

namespace mpswitch::oracle {
namespace {

void SetPolicy(srtp_policy_t& p, const MasterKey& key, SrtpProfile profile, uint8_t* key_buf) {
  std::memset(&p, 0, sizeof(p));
  if (profile == SrtpProfile::kAesCm128HmacSha1_32) {
    srtp_crypto_policy_set_aes_cm_128_hmac_sha1_32(&p.rtp);
  } else {
    srtp_crypto_policy_set_rtp_default(&p.rtp);
  }
  srtp_crypto_policy_set_rtcp_default(&p.rtcp);
  std::memcpy(key_buf, key.key.data(), key.key.size());
  std::memcpy(key_buf + key.key.size(), key.salt.data(), key.salt.size());
  p.key = key_buf;
  p.window_size = 128;
}

}  // namespace

void InitLibsrtp() {
  static std::once_flag once;
  std::call_once(once, [] {
    if (srtp_init() != srtp_err_status_ok) throw std::runtime_error("srtp_init failed");
  });
}

std::unique_ptr<LibsrtpSession> LibsrtpSession::Sender(const MasterKey& key, SrtpProfile profile,
                                                       uint32_t ssrc, bool allow_repeat_tx) {
  InitLibsrtp();
  srtp_policy_t p;
  uint8_t key_buf[30];
  SetPolicy(p, key, profile, key_buf);
  p.ssrc.type = ssrc_specific;
  p.ssrc.value = ssrc;
  p.allow_repeat_tx = allow_repeat_tx ? 1 : 0;
  auto s = std::unique_ptr<LibsrtpSession>(new LibsrtpSession);
  if (srtp_create(&s->session_, &p) != srtp_err_status_ok) throw std::runtime_error("srtp_create");
  return s;
}

std::unique_ptr<LibsrtpSession> LibsrtpSession::Receiver(const MasterKey& key, SrtpProfile profile) {
  InitLibsrtp();
  srtp_policy_t p;
  uint8_t key_buf[30];
  SetPolicy(p, key, profile, key_buf);
  p.ssrc.type = ssrc_any_inbound;
  auto s = std::unique_ptr<LibsrtpSession>(new LibsrtpSession);
  if (srtp_create(&s->session_, &p) != srtp_err_status_ok) throw std::runtime_error("srtp_create");
  return s;
}

std::unique_ptr<LibsrtpSession> LibsrtpSession::ReceiverFor(const MasterKey& key,
                                                            SrtpProfile profile, uint32_t ssrc) {
  // An ssrc_specific stream takes its direction from its first use: the sender's policy is the
  // receiver's too.
  return Sender(key, profile, ssrc, /*allow_repeat_tx=*/false);
}

srtp_err_status_t LibsrtpSession::SetRoc(uint32_t ssrc, uint32_t roc) {
  return srtp_set_stream_roc(session_, ssrc, roc);
}

LibsrtpSession::~LibsrtpSession() {
  if (session_) srtp_dealloc(session_);
}

srtp_err_status_t LibsrtpSession::UpdateKey(const MasterKey& key, SrtpProfile profile,
                                            uint32_t ssrc) {
  srtp_policy_t p;
  uint8_t key_buf[30];
  SetPolicy(p, key, profile, key_buf);
  p.ssrc.type = ssrc_specific;
  p.ssrc.value = ssrc;
  return srtp_update_stream(session_, &p);
}

srtp_err_status_t LibsrtpSession::Protect(std::vector<uint8_t>& pkt) {
  int len = static_cast<int>(pkt.size());
  pkt.resize(pkt.size() + SRTP_MAX_TRAILER_LEN);
  srtp_err_status_t st = srtp_protect(session_, pkt.data(), &len);
  pkt.resize(st == srtp_err_status_ok ? len : pkt.size() - SRTP_MAX_TRAILER_LEN);
  return st;
}

srtp_err_status_t LibsrtpSession::Unprotect(std::vector<uint8_t>& pkt) {
  int len = static_cast<int>(pkt.size());
  srtp_err_status_t st = srtp_unprotect(session_, pkt.data(), &len);
  if (st == srtp_err_status_ok) pkt.resize(len);
  return st;
}

srtp_err_status_t LibsrtpSession::ProtectRtcp(std::vector<uint8_t>& pkt) {
  int len = static_cast<int>(pkt.size());
  pkt.resize(pkt.size() + (SRTP_MAX_TRAILER_LEN + 4));
  srtp_err_status_t st = srtp_protect_rtcp(session_, pkt.data(), &len);
  pkt.resize(st == srtp_err_status_ok ? len : pkt.size() - (SRTP_MAX_TRAILER_LEN + 4));
  return st;
}

srtp_err_status_t LibsrtpSession::UnprotectRtcp(std::vector<uint8_t>& pkt) {
  int len = static_cast<int>(pkt.size());
  srtp_err_status_t st = srtp_unprotect_rtcp(session_, pkt.data(), &len);
  if (st == srtp_err_status_ok) pkt.resize(len);
  return st;
}

size_t RtpHeaderLen(const RtpSpec& s) {
  size_t n = 12 + 4 * s.csrcs.size();
  if (s.extension) n += 4 + (s.extension->size() + 3) / 4 * 4;
  return n;
}

std::vector<uint8_t> BuildRtp(const RtpSpec& s) {
  std::vector<uint8_t> p(RtpHeaderLen(s) + s.payload.size());
  p[0] = static_cast<uint8_t>(0x80 | (s.extension ? 0x10 : 0) | (s.csrcs.size() & 0x0f));
  p[1] = static_cast<uint8_t>((s.marker ? 0x80 : 0) | (s.payload_type & 0x7f));
  dataplane::StoreBe16(&p[2], s.seq);
  dataplane::StoreBe32(&p[4], s.timestamp);
  dataplane::StoreBe32(&p[8], s.ssrc);
  size_t off = 12;
  for (uint32_t c : s.csrcs) {
    dataplane::StoreBe32(&p[off], c);
    off += 4;
  }
  if (s.extension) {
    const size_t words = (s.extension->size() + 3) / 4;
    dataplane::StoreBe16(&p[off], 0xBEDE);
    dataplane::StoreBe16(&p[off + 2], static_cast<uint16_t>(words));
    if (!s.extension->empty()) std::memcpy(&p[off + 4], s.extension->data(), s.extension->size());
    off += 4 + 4 * words;
  }
  if (!s.payload.empty()) std::memcpy(&p[off], s.payload.data(), s.payload.size());
  return p;
}

std::vector<uint8_t> BuildRtcpSenderReport(uint32_t ssrc, uint32_t ntp_seconds, int rr) {
  std::vector<uint8_t> p(28 + 24 * rr);
  p[0] = static_cast<uint8_t>(0x80 | rr);
  p[1] = 200;
  dataplane::StoreBe16(&p[2], static_cast<uint16_t>(p.size() / 4 - 1));
  dataplane::StoreBe32(&p[4], ssrc);
  dataplane::StoreBe32(&p[8], ntp_seconds);
  for (size_t i = 12; i < p.size(); ++i) p[i] = static_cast<uint8_t>(i * 7);
  return p;
}

std::vector<uint8_t> ProtectWithTrailingByte(LibsrtpSession& sender, std::vector<uint8_t> rtp,
                                             uint8_t trailing) {
  std::vector<uint8_t> probe = rtp;
  probe.push_back(0);
  if (sender.Protect(probe) != srtp_err_status_ok) throw std::runtime_error("protect (probe)");
  const size_t at = rtp.size();
  const uint8_t keystream = probe[at];
  rtp.push_back(static_cast<uint8_t>(trailing ^ keystream));
  if (sender.Protect(rtp) != srtp_err_status_ok) throw std::runtime_error("protect (repeat)");
  if (rtp[at] != trailing) throw std::runtime_error("trailing byte not in clear");
  return rtp;
}

MasterKey RandomMasterKey(std::mt19937_64& rng) {
  MasterKey k;
  for (auto& b : k.key) b = static_cast<uint8_t>(rng());
  for (auto& b : k.salt) b = static_cast<uint8_t>(rng());
  return k;
}

std::vector<uint8_t> RandomBytes(std::mt19937_64& rng, size_t n) {
  std::vector<uint8_t> v(n);
  for (auto& b : v) b = static_cast<uint8_t>(rng());
  return v;
}

}  // namespace mpswitch::oracle
