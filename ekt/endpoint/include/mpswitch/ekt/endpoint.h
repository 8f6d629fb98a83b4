// The endpoint side of EKT: a sender that protects its media and announces its key on the seed
// guide's schedule, and a receiver that starts with only the group's KEK and learns every sender's
// key from the packets. Used by tests, the endpoint simulator and the demonstration; the switch
// itself learns keys in the dataplane (pipeline.cc), not here.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <vector>

#include "absl/status/statusor.h"
#include "mpswitch/dataplane/core/hmac_sha1.h"
#include "mpswitch/dataplane/core/replay.h"
#include "mpswitch/dataplane/core/srtp_cipher.h"
#include "mpswitch/dataplane/core/srtp_keys.h"
#include "mpswitch/ekt/ekt.h"
#include "mpswitch/ekt/key_codec.h"
#include "mpswitch/ekt/keywrap.h"

namespace mpswitch::ekt {

// One SSRC's sender. Schedule (seed guide, PROTOCOLS.md §4-5): video — the first packet of each
// frame long/full, the rest short; audio — every third packet long/full; after a key change (and
// at the start) the next three packets long/full whatever the media.
class EktSender {
 public:
  // The master key is drawn from OpenSSL's RNG; `initial_key` fixes it (vectors, tests).
  static absl::StatusOr<std::unique_ptr<EktSender>> Create(
      const GroupParams& group, uint32_t ssrc, bool video,
      std::optional<dataplane::MasterKey> initial_key = std::nullopt);

  // Protects one plaintext RTP packet of this SSRC: payload encrypted, `trailing` (the activity or
  // refresh byte) appended in clear inside the authenticated portion, tag and EKT field per the
  // group's format. The sender tracks its ROC from the sequence numbers it is given.
  std::vector<uint8_t> Protect(std::span<const uint8_t> rtp, std::optional<uint8_t> trailing,
                               bool frame_start);

  // Protects one compound RTCP packet (SR/RR + SDES) as SRTCP under the same master key (SRTCP
  // labels), E bit set, with the long/full EKT field: the seed guide announces keys in every SRTCP
  // SDES packet. SRTCP tags are 80 bits whatever the SRTP profile.
  std::vector<uint8_t> ProtectRtcp(std::span<const uint8_t> rtcp);

  // A new master key from the next packet on (its SEQ is the ISN; RFC 8870: epoch + 1).
  absl::Status ChangeKey(std::optional<dataplane::MasterKey> key = std::nullopt);
  // The meeting's group was rotated (a member left; TIP SPIMAP brings the new one): announce
  // under the new group from the next packet on, with a new master key, since whoever left could
  // unwrap the current one. Same format and profile required.
  absl::Status ChangeGroup(const GroupParams& group);

  const dataplane::MasterKey& master() const { return master_; }  // key + the group's salt
  uint16_t epoch() const { return epoch_; }
  uint32_t roc() const { return roc_; }

 private:
  EktSender(const GroupParams& g, KeyWrapper w) : group_(g), wrapper_(std::move(w)) {}
  absl::Status Install(const dataplane::MasterKey& m);
  bool LongNext(bool frame_start);
  // In-tag long-form fields (EMK | ROC | ISN | SPI|1) and the RFC 8870 FullEKTField.
  void AppendInTagLong(std::vector<uint8_t>& p) const;
  void AppendRfc8870Full(std::vector<uint8_t>& p) const;

  GroupParams group_;
  KeyWrapper wrapper_;
  uint32_t ssrc_ = 0;
  bool video_ = false;
  dataplane::MasterKey master_;
  std::optional<dataplane::SrtpCryptoContext> crypto_;
  std::optional<dataplane::SrtpCryptoContext> rtcp_crypto_;
  uint32_t srtcp_index_ = 0;
  dataplane::HmacSha1Key mac_;
  std::vector<uint8_t> emk_;  // in-tag EMK or RFC 8870 EKTCiphertext of the current key
  uint16_t epoch_ = 0;
  uint32_t roc_ = 0;
  std::optional<uint16_t> last_seq_;
  std::optional<uint16_t> isn_;  // set by the first packet under the current key
  int force_long_ = 3;
  uint64_t packets_ = 0;
};

// A receiving endpoint that knows only the groups' KEKs.
class EktReceiver {
 public:
  EktReceiver(GroupTable groups, EktFormat format, bool tag_32 = false)
      : groups_(std::move(groups)), format_(format), tag_len_(tag_32 ? 4 : 10) {}

  struct Received {
    uint32_t ssrc = 0;
    std::vector<uint8_t> srtp;  // the packet as plain RFC 3711 SRTP (EKT removed, plain tag)
    dataplane::MasterKey master;  // the sender key in force, learned from EKT
    bool learned_now = false;     // this packet taught a new key
    uint32_t roc = 0;             // SRTP: the rollover counter of the packet's index
  };

  // A group the receiver may learn keys under from now on (a rotated meeting group).
  absl::Status AddGroup(GroupParams group) { return groups_.Create(std::move(group)); }

  // Verifies the packet with the learned key (learning it first if the packet announces a new one:
  // decrypt, derive, verify, only then install) and returns it as plain SRTP that any RFC 3711
  // implementation (libsrtp2 in the tests) can decrypt with `master`. Error if the SPI is unknown,
  // the key cannot be unwrapped, no key is known yet, or the tag does not verify.
  absl::StatusOr<Received> Receive(std::span<const uint8_t> packet);
  // The same for an SRTCP packet carrying a long/full EKT field: returns plain RFC 3711 SRTCP.
  absl::StatusOr<Received> ReceiveRtcp(std::span<const uint8_t> packet);

 private:
  struct Learned {
    dataplane::MasterKey master;
    dataplane::HmacSha1Key mac;
    std::vector<uint8_t> emk;
    uint16_t epoch = 0;
    dataplane::ReplayWindow window;  // ROC estimation (and replay)
  };
  // The group of `spi` and the master key (and, RFC 8870, the ROC) its field carries.
  absl::StatusOr<const GroupParams*> Unwrap(uint16_t spi, std::span<const uint8_t> ct,
                                            uint32_t ssrc, MasterKeyBytes& key, uint32_t& roc) const;

  GroupTable groups_;
  EktFormat format_;
  size_t tag_len_;
  std::map<uint32_t, Learned> by_ssrc_;
};

}  // namespace mpswitch::ekt
