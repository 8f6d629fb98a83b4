// The fixed master keys of the pipeline fuzz target's streams, shared with its seed generator so
// seeds carry valid tags.
#pragma once

#include <cstdint>

#include <vector>

#include "mpswitch/dataplane/core/srtp_keys.h"
#include "mpswitch/ekt/ekt.h"

namespace mpswitch::fuzz {

inline dataplane::MasterKey KeyFor(uint32_t ssrc) {
  dataplane::MasterKey k;
  for (size_t i = 0; i < k.key.size(); ++i) k.key[i] = static_cast<uint8_t>(ssrc * 7 + i);
  for (size_t i = 0; i < k.salt.size(); ++i) k.salt[i] = static_cast<uint8_t>(ssrc * 3 + i);
  return k;
}

inline constexpr uint16_t kFuzzPort = 5000;

// EKT groups of the fuzz world: SPI 1 in-tag ECB, SPI 2 in-tag key wrap (SSRC 5's, 32-bit tags),
// SPI 3 RFC 8870.
inline std::vector<ekt::GroupParams> FuzzGroups() {
  std::vector<ekt::GroupParams> v(3);
  const ekt::EktCipher ciphers[] = {ekt::EktCipher::kAes128Ecb, ekt::EktCipher::kAesKw128,
                                    ekt::EktCipher::kAesKwp128};
  for (int i = 0; i < 3; ++i) {
    v[i].spi = static_cast<uint16_t>(i + 1);
    v[i].cipher = ciphers[i];
    v[i].format = i < 2 ? ekt::EktFormat::kInTag : ekt::EktFormat::kRfc8870;
    v[i].tag_32 = i == 1;
    v[i].kek.assign(16, static_cast<uint8_t>(0x70 + i));
    v[i].salt.fill(static_cast<uint8_t>(0x30 + i));
  }
  return v;
}

}  // namespace mpswitch::fuzz
