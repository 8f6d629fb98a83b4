// libFuzzer target for the EKT codecs: both trailer views on every tag length, and the key
// unwrapping a worker runs on an unfamiliar EMK (AES-ECB, RFC 3394, RFC 5649 + SSRC binding).
#include <cstddef>
#include <cstdint>
#include <span>

#include "mpswitch/ekt/ekt.h"
#include "mpswitch/ekt/key_codec.h"
#include "mpswitch/ekt/keywrap.h"

using namespace mpswitch::ekt;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const KeyWrapper w128 = std::move(*KeyWrapper::Create(std::vector<uint8_t>(16, 0x70)));
  const std::span<const uint8_t> p(data, size);
  for (size_t tag_len : {4, 10}) {
    InTagView v;
    auto emk_len = [](uint16_t spi) -> size_t { return spi == 1 ? 16 : spi == 2 ? 24 : 0; };
    if (ParseInTag(p, tag_len, 12, emk_len, v) == ParseError::kNone) {
      if (v.trailer_len + 12 > size) __builtin_trap();
      if (v.long_form) {
        MasterKeyBytes k;
        DecryptInTagEmk(w128, v.spi == 1 ? EktCipher::kAes128Ecb : EktCipher::kAesKw128, v.emk, k);
      }
    }
    Rfc8870View f;
    if (ParseRfc8870(p, 12 + tag_len, f) == ParseError::kNone) {
      if (f.field_len + 12 + tag_len > size) __builtin_trap();
      if (f.type == kRfc8870TypeFull) {
        MasterKeyBytes k;
        uint32_t roc;
        DecryptRfc8870(w128, f.ciphertext, 6, k, roc);
      }
    }
  }
  uint8_t out[kMaxWrapPlain + 8];
  if (size >= 16 && size <= kMaxWrapPlain + 8) {
    w128.Unwrap(p, out);
    w128.UnwrapPad(p, out);
  }
  return 0;
}
