// The fixed master keys of the pipeline fuzz target's streams, shared with its seed generator so
// seeds carry valid tags.
#pragma once

#include <cstdint>

#include "mpswitch/dataplane/core/srtp_keys.h"

namespace mpswitch::fuzz {

inline dataplane::MasterKey KeyFor(uint32_t ssrc) {
  dataplane::MasterKey k;
  for (size_t i = 0; i < k.key.size(); ++i) k.key[i] = static_cast<uint8_t>(ssrc * 7 + i);
  for (size_t i = 0; i < k.salt.size(); ++i) k.salt[i] = static_cast<uint8_t>(ssrc * 3 + i);
  return k;
}

inline constexpr uint16_t kFuzzPort = 5000;

}  // namespace mpswitch::fuzz
