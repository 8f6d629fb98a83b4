// Full RFC 3711 SRTP (AES-CM-128 + HMAC-SHA1) for one SSRC and one key: encrypts and decrypts.
//
// The switch itself never decrypts media. This exists for receivers that cannot take the sender's
// key (no EKT: the switch re-encrypts for them with their own hop keys, counted as slow path) and
// as the "conventional SFU" baseline the benchmarks compare against: key schedule and cipher fetched
// once, HMAC from precomputed states, nothing allocated per packet.
#pragma once

#include <openssl/evp.h>

#include <cstddef>
#include <cstdint>
#include <memory>

#include "absl/status/statusor.h"
#include "mpswitch/dataplane/core/hmac_sha1.h"
#include "mpswitch/dataplane/core/srtp_keys.h"

namespace mpswitch::dataplane {

class SrtpCryptoContext {
 public:
  static absl::StatusOr<SrtpCryptoContext> Create(const MasterKey& master, SrtpProfile profile);
  // The SRTCP keys (labels 3-5) of `master`: for CryptRtcp and RtcpTag. SRTCP tags are 10 bytes.
  static absl::StatusOr<SrtpCryptoContext> CreateRtcp(const MasterKey& master);

  // Encrypts the payload of the RTP packet in data[0, len) and appends the tag. `capacity` must be
  // at least len + tag_len(). Returns the new length, or 0 if the packet is not valid RTP or does
  // not fit.
  size_t Protect(uint8_t* data, size_t len, size_t capacity, uint32_t roc);

  // Verifies the tag and decrypts in place. Returns the plaintext length, or 0 on a malformed packet
  // or a tag mismatch (then the packet is left undecrypted). No replay check: callers own that.
  size_t Unprotect(uint8_t* data, size_t len, uint32_t roc);

  // AES-CM over the payload of the RTP packet data[0, len) in place, nothing else (encrypts and
  // decrypts alike). For senders that lay out their own trailer (EKT). False if not valid RTP.
  bool Crypt(uint8_t* data, size_t len, uint32_t roc);

  // SRTCP (RFC 3711 §3.4): AES-CM over data[8, len) of a compound RTCP packet with the 31-bit
  // SRTCP index; nothing is appended. Needs a context from CreateRtcp.
  bool CryptRtcp(uint8_t* data, size_t len, uint32_t index);
  // The 10-byte SRTCP tag over data[0, len) (which ends with the E|index word).
  void RtcpTag(const uint8_t* data, size_t len, uint8_t tag[10]) const;

  size_t tag_len() const { return tag_len_; }

 private:
  struct CtxFree {
    void operator()(EVP_CIPHER_CTX* c) const { EVP_CIPHER_CTX_free(c); }
  };
  SrtpCryptoContext() = default;
  bool CryptRange(uint8_t* data, size_t header_len, size_t end, uint32_t roc);
  bool CryptIv(uint8_t* data, size_t from, size_t end, uint32_t ssrc, uint64_t index);
  static absl::StatusOr<SrtpCryptoContext> FromKeys(const SessionKeys& keys, size_t tag_len);

  std::unique_ptr<EVP_CIPHER_CTX, CtxFree> ctx_;
  HmacSha1Key mac_;
  uint8_t salt_[kMasterSaltLen] = {};
  size_t tag_len_ = 10;
};

}  // namespace mpswitch::dataplane
