// libsrtp2 as the independent oracle for RFC 3711 behaviour, plus RTP/RTCP packet builders.
// Used by tests, fuzz seeds, benchmarks and demonstrations; never by the switch itself.
#pragma once

#include <srtp2/srtp.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <random>
#include <vector>

#include "mpswitch/dataplane/core/srtp_keys.h"

namespace mpswitch::oracle {

using dataplane::MasterKey;
using dataplane::SrtpProfile;

// Initialises libsrtp2 once per process.
void InitLibsrtp();

class LibsrtpSession {
 public:
  // A sending context for one SSRC. `allow_repeat_tx` lets the same index be protected twice (needed
  // to place an unencrypted trailing byte, see ProtectWithTrailingByte).
  static std::unique_ptr<LibsrtpSession> Sender(const MasterKey& key, SrtpProfile profile,
                                                uint32_t ssrc, bool allow_repeat_tx = false);
  // A receiving context for any SSRC protected with `key`.
  static std::unique_ptr<LibsrtpSession> Receiver(const MasterKey& key, SrtpProfile profile);
  // A receiving context for one SSRC, whose stream exists at once, so that its ROC can be set
  // before the first packet (a receiver that joins a stream after it wrapped).
  static std::unique_ptr<LibsrtpSession> ReceiverFor(const MasterKey& key, SrtpProfile profile,
                                                     uint32_t ssrc);
  // The rollover counter libsrtp2 uses for the next packet of `ssrc` (srtp_set_stream_roc), as
  // an EKT receiver knows it; the stream must exist (ReceiverFor, or after a first packet).
  srtp_err_status_t SetRoc(uint32_t ssrc, uint32_t roc);
  ~LibsrtpSession();

  // New master key for one SSRC's stream, keeping its ROC and replay state (srtp_update_stream):
  // what a receiver does when EKT announces a sender's new key.
  srtp_err_status_t UpdateKey(const MasterKey& key, SrtpProfile profile, uint32_t ssrc);

  srtp_err_status_t Protect(std::vector<uint8_t>& pkt);
  srtp_err_status_t Unprotect(std::vector<uint8_t>& pkt);
  srtp_err_status_t ProtectRtcp(std::vector<uint8_t>& pkt);
  srtp_err_status_t UnprotectRtcp(std::vector<uint8_t>& pkt);

 private:
  srtp_t session_ = nullptr;
};

struct RtpSpec {
  uint8_t payload_type = 96;
  bool marker = false;
  uint16_t seq = 0;
  uint32_t timestamp = 0;
  uint32_t ssrc = 0;
  std::vector<uint32_t> csrcs;
  std::optional<std::vector<uint8_t>> extension;  // RFC 8285 one-byte profile body, padded to 4
  std::vector<uint8_t> payload;
};

std::vector<uint8_t> BuildRtp(const RtpSpec& spec);
size_t RtpHeaderLen(const RtpSpec& spec);

// An SRTCP-protectable sender report with `rr` report blocks.
std::vector<uint8_t> BuildRtcpSenderReport(uint32_t ssrc, uint32_t ntp_seconds, int rr);

// What an endpoint sends: the payload encrypted by libsrtp2, then one byte `trailing` in clear, all
// covered by libsrtp2's tag. AES-CM is a keystream XOR, so protecting payload || (trailing XOR k)
// where k is the keystream byte at that offset leaves `trailing` in clear; k is learned by first
// protecting the same packet with a zero byte (the sender must allow repeated indices).
std::vector<uint8_t> ProtectWithTrailingByte(LibsrtpSession& sender, std::vector<uint8_t> rtp,
                                             uint8_t trailing);

MasterKey RandomMasterKey(std::mt19937_64& rng);
std::vector<uint8_t> RandomBytes(std::mt19937_64& rng, size_t n);

}  // namespace mpswitch::oracle
