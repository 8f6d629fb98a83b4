// Packet index estimation (RFC 3711 §3.3.1 and appendix A) and a 128-packet replay window.
//
// The window is only checked before authentication and only updated after the tag verifies, so a
// forged packet can neither advance the ROC nor mark an index as seen.
#pragma once

#include <cstdint>

namespace mpswitch::dataplane {

inline constexpr uint64_t kMaxSrtpIndex = (uint64_t{1} << 48) - 1;
inline constexpr uint64_t kMaxSrtcpIndex = (uint64_t{1} << 31) - 1;
inline constexpr int kReplayWindow = 128;

enum class ReplayVerdict : uint8_t { kNew, kDuplicate, kTooOld };

class ReplayWindow {
 public:
  // Forgets everything: the next packet is accepted whatever its index.
  void Reset() { *this = ReplayWindow(); }
  // For an SRTP stream whose sender's ROC is known from signalling (or EKT): the first packet's
  // index is estimated around this ROC instead of ROC 0.
  void ResetWithRoc(uint32_t roc) {
    Reset();
    initial_roc_ = roc;
  }

  bool initialized() const { return initialized_; }
  uint64_t highest() const { return highest_; }
  uint32_t roc() const { return initialized_ ? static_cast<uint32_t>(highest_ >> 16) : initial_roc_; }

  // RFC 3711 appendix A: the index the sender most likely used for `seq`, relative to the highest
  // index seen. Returns a value > kMaxSrtpIndex when the guess falls outside the 48-bit space (below
  // zero, or past a ROC of 2^32-1); callers treat that as too old / exhausted.
  uint64_t EstimateSrtpIndex(uint16_t seq) const;

  ReplayVerdict Check(uint64_t index) const;
  // Marks `index` as received; only after the packet authenticated.
  void Update(uint64_t index);

 private:
  uint64_t highest_ = 0;
  uint64_t bits_[2] = {0, 0};  // bit i of the 128: highest_ - i has been received
  uint32_t initial_roc_ = 0;
  bool initialized_ = false;
};

inline constexpr uint64_t kIndexOutOfRange = ~uint64_t{0};

inline uint64_t ReplayWindow::EstimateSrtpIndex(uint16_t seq) const {
  if (!initialized_) return (uint64_t{initial_roc_} << 16) | seq;
  const uint32_t roc = static_cast<uint32_t>(highest_ >> 16);
  const uint16_t s_l = static_cast<uint16_t>(highest_);
  int64_t v = roc;
  if (s_l < 0x8000) {
    if (seq > s_l && seq - s_l > 0x8000) v = int64_t{roc} - 1;
  } else {
    if (s_l - 0x8000 > seq) v = int64_t{roc} + 1;
  }
  if (v < 0 || v > 0xFFFFFFFF) return kIndexOutOfRange;
  return (static_cast<uint64_t>(v) << 16) | seq;
}

inline ReplayVerdict ReplayWindow::Check(uint64_t index) const {
  if (!initialized_ || index > highest_) return ReplayVerdict::kNew;
  const uint64_t delta = highest_ - index;
  if (delta >= kReplayWindow) return ReplayVerdict::kTooOld;
  const bool seen = (bits_[delta >> 6] >> (delta & 63)) & 1;
  return seen ? ReplayVerdict::kDuplicate : ReplayVerdict::kNew;
}

inline void ReplayWindow::Update(uint64_t index) {
  if (!initialized_) {
    initialized_ = true;
    highest_ = index;
    bits_[0] = 1;
    bits_[1] = 0;
    return;
  }
  if (index > highest_) {
    const uint64_t shift = index - highest_;
    if (shift >= kReplayWindow) {
      bits_[0] = bits_[1] = 0;
    } else if (shift >= 64) {
      bits_[1] = bits_[0] << (shift - 64);
      bits_[0] = 0;
    } else {
      bits_[1] = (bits_[1] << shift) | (shift ? bits_[0] >> (64 - shift) : 0);
      bits_[0] <<= shift;
    }
    bits_[0] |= 1;
    highest_ = index;
  } else {
    // Below the window there is nothing to mark; callers check first (Check says kTooOld), and
    // this keeps a caller that did not from writing past the bitmap.
    const uint64_t delta = highest_ - index;
    if (delta < kReplayWindow) bits_[delta >> 6] |= uint64_t{1} << (delta & 63);
  }
}

}  // namespace mpswitch::dataplane
