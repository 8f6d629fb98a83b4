// What a simulated endpoint puts inside its (encrypted) RTP payload, so that a receiver can check
// after decryption that the switch delivered exactly what was sent, by whom, and where in a frame:
//
//   magic "MPSM" | room (16) | position (8) | flags (8) | frame (32) | send time ns (64) | filler
//
// flags: kVideo, kFrameStart (first packet of a frame), kRefresh (that frame is an IDR),
// kPresentation. The filler is a function of (SSRC, sequence number, offset), so integrity is
// checked without keeping what was sent. Big-endian like the rest of RTP.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

namespace mpswitch::sim {

inline constexpr uint8_t kPayloadMagic[4] = {'M', 'P', 'S', 'M'};
inline constexpr size_t kPayloadHeaderLen = 20;

enum PayloadFlags : uint8_t {
  kVideo = 1,
  kFrameStart = 2,
  kRefresh = 4,
  kPresentation = 8,
};

struct PayloadHeader {
  uint16_t room = 0;
  uint8_t position = 0;
  uint8_t flags = 0;
  uint32_t frame = 0;
  uint64_t send_ns = 0;
};

inline uint8_t FillerByte(uint32_t ssrc, uint16_t seq, size_t i) {
  // A cheap mix that differs per stream, packet and offset; not cryptographic, only a checksum of
  // sorts that a byte moved, dropped or flipped by the path cannot keep.
  uint32_t x = ssrc * 0x9E3779B1u ^ (uint32_t{seq} << 16) ^ static_cast<uint32_t>(i) * 0x85EBCA6Bu;
  x ^= x >> 15;
  x *= 0x2C1B3C6Du;
  x ^= x >> 13;
  return static_cast<uint8_t>(x);
}

// Writes the header and filler into `out` (its whole size). `out` holds at least the header.
inline void WritePayload(std::span<uint8_t> out, const PayloadHeader& h, uint32_t ssrc,
                         uint16_t seq) {
  uint8_t* p = out.data();
  for (int i = 0; i < 4; ++i) p[i] = kPayloadMagic[i];
  p[4] = static_cast<uint8_t>(h.room >> 8);
  p[5] = static_cast<uint8_t>(h.room);
  p[6] = h.position;
  p[7] = h.flags;
  for (int i = 0; i < 4; ++i) p[8 + i] = static_cast<uint8_t>(h.frame >> (24 - 8 * i));
  for (int i = 0; i < 8; ++i) p[12 + i] = static_cast<uint8_t>(h.send_ns >> (56 - 8 * i));
  for (size_t i = kPayloadHeaderLen; i < out.size(); ++i) p[i] = FillerByte(ssrc, seq, i);
}

// Reads and checks a decrypted payload; false if it is too short, has no magic or a filler byte
// differs.
inline bool ReadPayload(std::span<const uint8_t> in, uint32_t ssrc, uint16_t seq,
                        PayloadHeader& h) {
  if (in.size() < kPayloadHeaderLen) return false;
  const uint8_t* p = in.data();
  for (int i = 0; i < 4; ++i) {
    if (p[i] != kPayloadMagic[i]) return false;
  }
  h.room = static_cast<uint16_t>((p[4] << 8) | p[5]);
  h.position = p[6];
  h.flags = p[7];
  h.frame = 0;
  for (int i = 0; i < 4; ++i) h.frame = (h.frame << 8) | p[8 + i];
  h.send_ns = 0;
  for (int i = 0; i < 8; ++i) h.send_ns = (h.send_ns << 8) | p[12 + i];
  for (size_t i = kPayloadHeaderLen; i < in.size(); ++i) {
    if (p[i] != FillerByte(ssrc, seq, i)) return false;
  }
  return true;
}

}  // namespace mpswitch::sim
