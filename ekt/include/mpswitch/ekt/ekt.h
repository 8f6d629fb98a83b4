// Encrypted Key Transport: the group parameter sets and both wire formats.
//
//  - In-tag (draft-ietf-avt-srtp-ekt-01, the seed guide's format; PROTOCOLS.md §4): the SRTP tag
//    field carries base tag | EMK | ROC | ISN | SPI(15)|1 (long) or base tag | 0x00 (short); the base
//    tag covers the whole packet with the base tag zeroed, then the ROC.
//  - RFC 8870 (PROTOCOLS.md §5): an EKTField after the normal SRTP tag, not covered by it.
//
// Views here parse from the end of a packet with bounds checks and never allocate, so the
// dataplane can run them per packet.
#pragma once

#include <openssl/crypto.h>

#include <array>
#include <cstddef>
#include <memory>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace mpswitch::ekt {

enum class EktFormat : uint8_t { kInTag, kRfc8870 };

// How the sender's master key is encrypted under the group's key encrypting key.
enum class EktCipher : uint8_t {
  kAes128Ecb,  // in-tag: EMK = AES-128-ECB(KEK, master key), 16 bytes
  kAesKw128,   // in-tag: EMK = AES key wrap (RFC 3394), 24 bytes
  kAesKwp128,  // RFC 8870: EKTPlaintext wrapped with padding (RFC 5649), 128-bit EKTKey
  kAesKwp256,  // RFC 8870, 256-bit EKTKey
};

std::string_view EktCipherName(EktCipher c);  // AES_128_ECB, AESKW_128, AESKWP_128, AESKWP_256
std::string_view EktFormatName(EktFormat f);  // intag, rfc8870

inline constexpr size_t kSaltLen = 14;

// An allocator that wipes what it frees, so that key encrypting keys leave no copies behind when
// a vector holding one is destroyed, reassigned or grows (every copy of a GroupParams is one).
template <typename T>
struct WipingAllocator {
  using value_type = T;
  WipingAllocator() = default;
  template <typename U>
  WipingAllocator(const WipingAllocator<U>&) {}
  T* allocate(size_t n) { return std::allocator<T>().allocate(n); }
  void deallocate(T* p, size_t n) {
    OPENSSL_cleanse(p, n * sizeof(T));
    std::allocator<T>().deallocate(p, n);
  }
  template <typename U>
  bool operator==(const WipingAllocator<U>&) const { return true; }
};
using SecretBytes = std::vector<uint8_t, WipingAllocator<uint8_t>>;
inline constexpr size_t kSrtpKeyLen = 16;

// One group EKT parameter set (the SPIMAP contents): what every sender of the group shares.
struct GroupParams {
  uint16_t spi = 0;             // in-tag: 15 bits
  SecretBytes kek;              // 16 bytes, or 32 for kAesKwp256
  EktCipher cipher = EktCipher::kAes128Ecb;
  EktFormat format = EktFormat::kInTag;
  bool tag_32 = false;          // SRTP profile AES_CM_128_HMAC_SHA1_32 instead of _80
  std::array<uint8_t, kSaltLen> salt{};  // the group's master salt: every sender uses it
};

// Checks that the cipher fits the format, the KEK length fits the cipher and the SPI fits.
absl::Status Validate(const GroupParams& g);

// Bytes of the encrypted master key in the in-tag long form (16 for ECB, 24 for key wrap).
constexpr size_t InTagEmkLen(EktCipher c) { return c == EktCipher::kAes128Ecb ? 16 : 24; }
// In-tag long form: base tag + EMK + ROC(4) + ISN(2) + SPI/flag(2).
constexpr size_t InTagLongLen(size_t tag_len, EktCipher c) { return tag_len + InTagEmkLen(c) + 8; }
constexpr size_t InTagShortLen(size_t tag_len) { return tag_len + 1; }
// RFC 8870 FullEKTField for a 16-byte master key: 40-byte ciphertext + SPI + epoch + length + type.
inline constexpr size_t kRfc8870FullLen = 47;
inline constexpr uint8_t kRfc8870TypeShort = 0x00;
inline constexpr uint8_t kRfc8870TypeFull = 0x02;

// The group parameter sets known to one party. Control-plane object: not for the packet path.
class GroupTable {
 public:
  absl::Status Create(GroupParams g);
  // New KEK for an existing SPI (everything else kept). Senders must re-announce their keys.
  absl::Status Rotate(uint16_t spi, SecretBytes new_kek);
  absl::Status Retire(uint16_t spi);
  const GroupParams* Find(uint16_t spi) const;
  std::vector<GroupParams> All() const;

 private:
  absl::flat_hash_map<uint16_t, GroupParams> groups_;
};

enum class ParseError : uint8_t {
  kNone,
  kTooShort,     // the packet cannot hold the trailer it announces
  kUnknownSpi,   // SPI not in the table
  kMalformed,    // reserved bits set, length field inconsistent
};

// The in-tag trailer of one packet, read from its end.
struct InTagView {
  bool long_form = false;
  uint16_t spi = 0;
  std::span<const uint8_t> emk;  // long form only
  uint32_t roc = 0;
  uint16_t isn = 0;
  uint16_t trailer_len = 0;  // base tag + EKT fields: the bytes after the authenticated portion
};

// `emk_len_for_spi(spi)` returns the EMK length of the group or 0 if the SPI is unknown.
template <typename EmkLenFn>
ParseError ParseInTag(std::span<const uint8_t> pkt, size_t tag_len, size_t min_auth,
                      EmkLenFn emk_len_for_spi, InTagView& v) {
  const size_t n = pkt.size();
  if (n < min_auth + tag_len + 1) return ParseError::kTooShort;
  const uint8_t last = pkt[n - 1];
  if ((last & 1) == 0) {
    if (last != 0) return ParseError::kMalformed;  // reserved bits must be zero
    v = InTagView{false, 0, {}, 0, 0, static_cast<uint16_t>(tag_len + 1)};
    return ParseError::kNone;
  }
  const uint16_t spi_word = static_cast<uint16_t>((pkt[n - 2] << 8) | last);
  const uint16_t spi = spi_word >> 1;
  const size_t emk_len = emk_len_for_spi(spi);
  if (emk_len == 0) return ParseError::kUnknownSpi;
  const size_t trailer = tag_len + emk_len + 8;
  if (n < min_auth + trailer) return ParseError::kTooShort;
  const uint8_t* f = pkt.data() + n - 8;  // ROC(4) ISN(2) SPI(2)
  v.long_form = true;
  v.spi = spi;
  v.emk = pkt.subspan(n - 8 - emk_len, emk_len);
  v.roc = (uint32_t{f[0]} << 24) | (uint32_t{f[1]} << 16) | (uint32_t{f[2]} << 8) | f[3];
  v.isn = static_cast<uint16_t>((f[4] << 8) | f[5]);
  v.trailer_len = static_cast<uint16_t>(trailer);
  return ParseError::kNone;
}

// An RFC 8870 EKTField at the end of a packet.
struct Rfc8870View {
  uint8_t type = 0;     // 0 short, 2 full, other: an extension to ignore
  uint16_t spi = 0;     // full only
  uint16_t epoch = 0;   // full only
  std::span<const uint8_t> ciphertext;  // full only
  uint16_t field_len = 0;               // bytes to remove from the end
};

// `min_before` = the bytes that must precede the field (RTP header + SRTP tag).
ParseError ParseRfc8870(std::span<const uint8_t> pkt, size_t min_before, Rfc8870View& v);

// RFC 8870 EKTPlaintext for a 16-byte key: length(1) | key(16) | SSRC(4) | ROC(4) = 25 bytes.
inline constexpr size_t kRfc8870PlainLen = 1 + kSrtpKeyLen + 4 + 4;

}  // namespace mpswitch::ekt
