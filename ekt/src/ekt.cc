#include "mpswitch/ekt/ekt.h"

#include <algorithm>

#include "absl/strings/str_format.h"

namespace mpswitch::ekt {

std::string_view EktCipherName(EktCipher c) {
  switch (c) {
    case EktCipher::kAes128Ecb: return "AES_128_ECB";
    case EktCipher::kAesKw128: return "AESKW_128";
    case EktCipher::kAesKwp128: return "AESKWP_128";
    case EktCipher::kAesKwp256: return "AESKWP_256";
  }
  return "unknown";
}

std::string_view EktFormatName(EktFormat f) {
  return f == EktFormat::kInTag ? "intag" : "rfc8870";
}

absl::Status Validate(const GroupParams& g) {
  const bool in_tag = g.format == EktFormat::kInTag;
  const bool cipher_in_tag = g.cipher == EktCipher::kAes128Ecb || g.cipher == EktCipher::kAesKw128;
  if (in_tag != cipher_in_tag) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "EKT SPI %d: cipher %s cannot be used with the %s format", g.spi,
        EktCipherName(g.cipher), EktFormatName(g.format)));
  }
  const size_t want = g.cipher == EktCipher::kAesKwp256 ? 32 : 16;
  if (g.kek.size() != want) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "EKT SPI %d: %s needs a %d-byte key encrypting key, got %d bytes", g.spi,
        EktCipherName(g.cipher), want, g.kek.size()));
  }
  if (in_tag && g.spi > 0x7fff) {
    return absl::InvalidArgumentError(
        absl::StrFormat("EKT SPI %d does not fit the in-tag format's 15 bits", g.spi));
  }
  return absl::OkStatus();
}

absl::Status GroupTable::Create(GroupParams g) {
  if (auto s = Validate(g); !s.ok()) return s;
  if (groups_.contains(g.spi)) {
    return absl::AlreadyExistsError(
        absl::StrFormat("EKT SPI %d already names a group; retire it first or rotate its key", g.spi));
  }
  const uint16_t spi = g.spi;
  groups_.emplace(spi, std::move(g));
  return absl::OkStatus();
}

absl::Status GroupTable::Rotate(uint16_t spi, SecretBytes new_kek) {
  auto it = groups_.find(spi);
  if (it == groups_.end()) return absl::NotFoundError(absl::StrFormat("no EKT group with SPI %d", spi));
  GroupParams g = it->second;
  g.kek = std::move(new_kek);
  if (auto s = Validate(g); !s.ok()) return s;
  it->second = std::move(g);
  return absl::OkStatus();
}

absl::Status GroupTable::Retire(uint16_t spi) {
  if (groups_.erase(spi) == 0) return absl::NotFoundError(absl::StrFormat("no EKT group with SPI %d", spi));
  return absl::OkStatus();
}

const GroupParams* GroupTable::Find(uint16_t spi) const {
  auto it = groups_.find(spi);
  return it == groups_.end() ? nullptr : &it->second;
}

std::vector<GroupParams> GroupTable::All() const {
  std::vector<GroupParams> v;
  for (const auto& [spi, g] : groups_) v.push_back(g);
  std::sort(v.begin(), v.end(), [](const auto& a, const auto& b) { return a.spi < b.spi; });
  return v;
}

ParseError ParseRfc8870(std::span<const uint8_t> pkt, size_t min_before, Rfc8870View& v) {
  const size_t n = pkt.size();
  if (n < min_before + 1) return ParseError::kTooShort;
  const uint8_t type = pkt[n - 1];
  if (type == kRfc8870TypeShort) {
    v = Rfc8870View{type, 0, 0, {}, 1};
    return ParseError::kNone;
  }
  // Full and extension fields end with a 16-bit length of the whole field, then the type.
  if (n < min_before + 3) return ParseError::kTooShort;
  const size_t len = (size_t{pkt[n - 3]} << 8) | pkt[n - 2];
  if (len < 3 || len > n - min_before) return ParseError::kMalformed;
  if (type != kRfc8870TypeFull) {
    v = Rfc8870View{type, 0, 0, {}, static_cast<uint16_t>(len)};
    return ParseError::kNone;
  }
  // Full: ciphertext | SPI(2) | epoch(2) | length(2) | type(1)
  if (len < 7 + 16) return ParseError::kMalformed;
  const uint8_t* f = pkt.data() + n - 7;
  v.type = type;
  v.spi = static_cast<uint16_t>((f[0] << 8) | f[1]);
  v.epoch = static_cast<uint16_t>((f[2] << 8) | f[3]);
  v.ciphertext = pkt.subspan(n - len, len - 7);
  v.field_len = static_cast<uint16_t>(len);
  return ParseError::kNone;
}

}  // namespace mpswitch::ekt
