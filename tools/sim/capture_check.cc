#include "mpswitch/sim/capture_check.h"

#include <cstdio>
#include <fstream>
#include <map>
#include <memory>
#include <sstream>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_format.h"
#include "mpswitch/dataplane/core/packet.h"
#include "mpswitch/ekt/endpoint.h"
#include "mpswitch/oracle/libsrtp_oracle.h"
#include "mpswitch/sim/room.h"

namespace mpswitch::sim {
namespace {

bool Hex(const std::string& text, uint8_t* out, size_t n) {
  if (text.size() != 2 * n) return false;
  for (size_t i = 0; i < n; ++i) {
    int v = 0;
    if (!absl::SimpleHexAtoi(text.substr(2 * i, 2), &v)) return false;
    out[i] = static_cast<uint8_t>(v);
  }
  return true;
}

struct Log {
  std::map<uint16_t, ekt::GroupParams> groups;  // by SPI
  std::map<uint32_t, std::vector<dataplane::MasterKey>> keys;
};

absl::StatusOr<Log> ReadKeylog(const std::string& path) {
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(absl::StrFormat("cannot read the key log %s", path));
  Log log;
  std::string line;
  int n = 0;
  while (std::getline(in, line)) {
    ++n;
    std::istringstream f(line);
    std::string kind;
    f >> kind;
    if (kind == "SRTP") {
      std::string ssrc, key, salt, profile;
      f >> ssrc >> key >> salt >> profile;
      uint32_t s = 0;
      dataplane::MasterKey m;
      if (!absl::SimpleHexAtoi(ssrc, &s) || !Hex(key, m.key.data(), m.key.size()) ||
          !Hex(salt, m.salt.data(), m.salt.size())) {
        return absl::InvalidArgumentError(absl::StrFormat("%s:%d: a malformed SRTP line", path, n));
      }
      log.keys[s].push_back(m);
    } else if (kind == "EKT") {
      std::string spi, kek, salt, cipher, format;
      f >> spi >> kek >> salt >> cipher >> format;
      ekt::GroupParams g;
      int s = 0;
      g.kek.resize(kek.size() / 2);
      if (!absl::SimpleAtoi(spi, &s) || s < 0 || s > 0xffff ||
          !Hex(kek, g.kek.data(), g.kek.size()) || !Hex(salt, g.salt.data(), g.salt.size())) {
        return absl::InvalidArgumentError(absl::StrFormat("%s:%d: a malformed EKT line", path, n));
      }
      g.spi = static_cast<uint16_t>(s);
      if (cipher == "AES_128_ECB") {
        g.cipher = ekt::EktCipher::kAes128Ecb;
      } else if (cipher == "AESKW_128") {
        g.cipher = ekt::EktCipher::kAesKw128;
      } else if (cipher == "AESKWP_128") {
        g.cipher = ekt::EktCipher::kAesKwp128;
      } else if (cipher == "AESKWP_256") {
        g.cipher = ekt::EktCipher::kAesKwp256;
      } else {
        return absl::InvalidArgumentError(absl::StrFormat("%s:%d: unknown EKT cipher %s", path, n, cipher));
      }
      g.format = format == "rfc8870" ? ekt::EktFormat::kRfc8870 : ekt::EktFormat::kInTag;
      if (!log.groups.empty() && log.groups.begin()->second.format != g.format) {
        return absl::InvalidArgumentError(absl::StrFormat(
            "%s:%d: groups of both EKT formats; check the captures of one run at a time", path, n));
      }
      // Several meetings have several groups; a log appended to by several runs repeats SPIs,
      // and the latest group of an SPI is the one the capture of the latest run used.
      log.groups[g.spi] = g;
    }
  }
  if (log.groups.empty()) return absl::InvalidArgumentError(absl::StrFormat("%s has no EKT line", path));
  return log;
}

// What one receiving address saw of one sender.
struct Flow {
  std::unique_ptr<ekt::EktReceiver> ekt;
  struct PerSsrc {
    // One libsrtp2 stream per sender, re-keyed (srtp_update_stream, which keeps its ROC and
    // replay state) when EKT announces the next logged key.
    std::unique_ptr<oracle::LibsrtpSession> srtp;
    size_t key_index = SIZE_MAX;
    uint64_t last_us = 0;
    bool known = false;
    int awaiting = 0;
  };
  std::map<uint32_t, PerSsrc> ssrcs;
};

}  // namespace

absl::StatusOr<CaptureReport> CheckCapture(const std::string& pcap_path,
                                           const std::string& keylog_path) {
  absl::StatusOr<Log> log = ReadKeylog(keylog_path);
  if (!log.ok()) return log.status();
  oracle::InitLibsrtp();
  std::FILE* f = std::fopen(pcap_path.c_str(), "rb");
  if (!f) return absl::NotFoundError(absl::StrFormat("cannot read the capture %s", pcap_path));
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> closer(f, std::fclose);
  uint32_t gh[6];
  if (std::fread(gh, 1, 24, f) != 24 || gh[0] != 0xa1b2c3d4u || gh[5] != 101) {
    return absl::InvalidArgumentError(
        absl::StrFormat("%s is not a native-order pcap of raw IPv4 (LINKTYPE_RAW)", pcap_path));
  }
  ekt::GroupTable groups;
  for (const auto& [spi, g] : log->groups) {
    if (absl::Status s = groups.Create(g); !s.ok()) return s;
  }
  const ekt::GroupParams& any = log->groups.begin()->second;  // format and tag length
  CaptureReport rep;
  std::map<std::pair<uint32_t, uint16_t>, Flow> flows;  // by destination address and port
  std::vector<uint8_t> buf(65536);
  auto fail = [&rep](const std::string& why) {
    ++rep.failed;
    if (rep.first_failure.empty()) rep.first_failure = why;
  };
  for (;;) {
    uint32_t rh[4];
    if (std::fread(rh, 1, 16, f) != 16) break;
    if (rh[2] > buf.size() || rh[2] != rh[3]) {
      return absl::InvalidArgumentError(absl::StrFormat("%s: a truncated or oversized record", pcap_path));
    }
    if (std::fread(buf.data(), 1, rh[2], f) != rh[2]) break;
    const uint8_t* ip = buf.data();
    const size_t len = rh[2];
    if (len < 28 || (ip[0] >> 4) != 4 || ip[9] != 17) continue;
    const size_t ihl = static_cast<size_t>(ip[0] & 0x0f) * 4;
    if (len < ihl + 8) continue;
    ++rep.datagrams;
    const uint32_t dst = dataplane::LoadBe32(ip + 16);
    const uint16_t dport = dataplane::LoadBe16(ip + ihl + 2);
    const uint8_t* p = ip + ihl + 8;
    const size_t n = len - ihl - 8;
    if (n < 12 || p[0] < 128 || p[0] > 191) continue;  // not RTP/RTCP (RFC 7983)
    ++rep.srtp;
    const uint32_t ssrc = dataplane::LoadBe32(p + 8);
    const uint64_t t_us = uint64_t{rh[0]} * 1000000 + rh[1];
    Flow& flow = flows[{dst, dport}];
    if (!flow.ekt) {
      flow.ekt = std::make_unique<ekt::EktReceiver>(groups, any.format, any.tag_32);
    }
    Flow::PerSsrc& ps = flow.ssrcs[ssrc];
    absl::StatusOr<ekt::EktReceiver::Received> r = flow.ekt->Receive({p, n});
    const bool resuming = !ps.known || t_us - ps.last_us > 200000 || ps.awaiting > 0;
    ps.last_us = t_us;
    if (MayAwaitKey(r.status(), AnnouncesKey(any.format, p, n), resuming, ps.awaiting)) {
      ++ps.awaiting;
      ++rep.awaiting_key;
      continue;
    }
    ps.awaiting = 0;
    if (!r.ok()) {
      fail(absl::StrFormat("%08x seq %d to port %d: %s", ssrc, dataplane::LoadBe16(p + 2), dport,
                           r.status().message()));
      continue;
    }
    ps.known = true;
    // The key EKT carried must be one the log lists for this SSRC, and libsrtp2 must decrypt
    // with the logged key.
    auto logged = log->keys.find(ssrc);
    size_t idx = SIZE_MAX;
    if (logged != log->keys.end()) {
      for (size_t i = 0; i < logged->second.size(); ++i) {
        if (logged->second[i].key == r->master.key && logged->second[i].salt == r->master.salt) idx = i;
      }
    }
    if (idx == SIZE_MAX) {
      fail(absl::StrFormat("%08x: the key its EKT field carries is not in the key log", ssrc));
      continue;
    }
    if (!ps.srtp) {
      ps.srtp = oracle::LibsrtpSession::ReceiverFor(
          logged->second[idx], dataplane::SrtpProfile::kAesCm128HmacSha1_80, ssrc);
    } else if (ps.key_index != idx) {
      ps.srtp->UpdateKey(logged->second[idx], dataplane::SrtpProfile::kAesCm128HmacSha1_80, ssrc);
    }
    ps.key_index = idx;
    std::vector<uint8_t> pkt = std::move(r->srtp);
    ps.srtp->SetRoc(ssrc, r->roc);
    if (ps.srtp->Unprotect(pkt) != srtp_err_status_ok) {
      fail(absl::StrFormat("%08x seq %d: libsrtp2 refused it with the logged key", ssrc,
                           dataplane::LoadBe16(p + 2)));
      continue;
    }
    ++rep.decrypted;
  }
  return rep;
}

}  // namespace mpswitch::sim
