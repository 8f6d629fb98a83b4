// Encrypting and decrypting a sender's master key for both EKT formats. Allocation-free: the
// dataplane runs the decrypt side on its workers whenever a packet carries an unfamiliar key.
#pragma once

#include <array>
#include <cstdint>
#include <span>

#include "mpswitch/ekt/ekt.h"
#include "mpswitch/ekt/keywrap.h"

namespace mpswitch::ekt {

using MasterKeyBytes = std::array<uint8_t, kSrtpKeyLen>;

// In-tag EMK: AES-128-ECB (16 bytes) or AES key wrap (24 bytes) of the master key. `emk` must be
// InTagEmkLen(cipher) bytes.
void EncryptInTagEmk(const KeyWrapper& w, EktCipher cipher, const MasterKeyBytes& key,
                     std::span<uint8_t> emk);
// False if the EMK has the wrong size or (key wrap) fails its integrity check. ECB has no
// integrity check: a forged EMK yields some key, which the packet's tag then refuses.
bool DecryptInTagEmk(const KeyWrapper& w, EktCipher cipher, std::span<const uint8_t> emk,
                     MasterKeyBytes& key);

// RFC 8870 EKTCiphertext = AESKWP(EKTKey, len | key | SSRC | ROC); 40 bytes for a 16-byte key.
inline constexpr size_t kRfc8870CiphertextLen = 40;
void EncryptRfc8870(const KeyWrapper& w, const MasterKeyBytes& key, uint32_t ssrc, uint32_t roc,
                    std::span<uint8_t> ciphertext);
// False if the unwrap fails, the key length is not 16 or the SSRC is not the packet's (RFC 8870
// §4.3: a field copied onto another sender's stream must not install anything).
bool DecryptRfc8870(const KeyWrapper& w, std::span<const uint8_t> ciphertext, uint32_t ssrc,
                    MasterKeyBytes& key, uint32_t& roc);

}  // namespace mpswitch::ekt
