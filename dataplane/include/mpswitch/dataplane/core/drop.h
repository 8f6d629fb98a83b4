// Why the dataplane refused a packet. Every value indexes a counter in `WorkerCounters`, and has a
// stable name and a help text for operators (telemetry, the admin API, the demo's summary).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace mpswitch::dataplane {

enum class Drop : uint8_t {
  kNone = 0,
  kTooShort,
  kOversize,
  kBadVersion,
  kCsrcPastEnd,
  kExtensionPastEnd,
  kRtcpLengthPastEnd,
  kNotMedia,
  kUnknownStream,
  kNoStreamState,
  kAuthFailed,
  kReplayDuplicate,
  kReplayTooOld,
  kKeyExhausted,
  kNoTrailingByte,
  kMissingCsrc,
  kNoOutputBuffer,
  kOutputTooSmall,
  kBurstOverflow,
  kNoTailroom,
  kEktMalformed,
  kEktUnknownSpi,
  kEktUnwrapFailed,
  kEktNoKey,
  kEktKeyUnverified,
  kSourceMismatch,
  kEktForeignSpi,
  kEktRocOutOfRange,
  kEktStaleKey,
  kEktUnwrapBudget,
  kCount,
};

inline constexpr size_t kDropCount = static_cast<size_t>(Drop::kCount);

struct DropInfo {
  std::string_view name;
  std::string_view help;
};

inline constexpr std::array<DropInfo, kDropCount> kDropInfo = {{
    {"none", "not dropped"},
    {"too_short", "datagram shorter than the RTP/RTCP header plus the SRTP trailer"},
    {"oversize", "datagram longer than the dataplane's maximum packet size"},
    {"bad_version", "RTP/RTCP version field is not 2"},
    {"csrc_past_end", "CSRC count points past the authenticated portion"},
    {"extension_past_end", "RTP header extension length points past the authenticated portion"},
    {"rtcp_length_past_end", "first RTCP packet's length field points past the SRTCP payload"},
    {"not_media", "not RTP/RTCP version 2 by its first bytes (DTLS, STUN, ... belong to control)"},
    {"unknown_stream", "no stream for this local port and SSRC in the current snapshot"},
    {"no_stream_state", "stream's state slot is beyond what this worker was sized for"},
    {"auth_failed", "authentication tag does not verify with the sender's key"},
    {"replay_duplicate", "packet index already received (replay window)"},
    {"replay_too_old", "packet index is older than the replay window"},
    {"key_exhausted", "master key has protected 2^48 SRTP (2^31 SRTCP) packets; re-key required"},
    {"no_trailing_byte", "stream carries an activity/refresh byte but the payload is empty"},
    {"missing_csrc", "a route rewrites the MUX-CSRC but the packet has no CSRC"},
    {"no_output_buffer", "more outputs in this burst than output buffers offered (one per route)"},
    {"output_too_small", "output buffer capacity is smaller than the re-tagged packet"},
    {"burst_overflow", "burst longer than the worker's maximum; the excess was not processed"},
    {"no_tailroom", "in-tag EKT packet without 4 bytes of buffer after it to stage the ROC"},
    {"ekt_malformed", "EKT field with reserved bits set or an inconsistent length"},
    {"ekt_unknown_spi", "EKT SPI names no group of this stream's format in the current snapshot"},
    {"ekt_unwrap_failed", "encrypted master key fails its key-wrap integrity check or SSRC binding"},
    {"ekt_no_key", "short EKT form before any key was learned for the stream"},
    {"ekt_key_unverified", "key announced by the packet does not verify the packet's tag"},
    {"source_mismatch", "packet for a stream arrived from another address or port than its leg's"},
    {"ekt_foreign_spi", "EKT SPI names another meeting's group, not the stream's own"},
    {"ekt_roc_out_of_range",
     "EKT field's ROC runs further ahead of the stream than its sender could have sent since"},
    {"ekt_stale_key", "packet under the previous key at or after the index its successor took over"},
    {"ekt_unwrap_budget",
     "too many failed key announcements on this stream lately; unwrapping paused until it refills"},
}};

constexpr bool AllDropsNamed() {
  for (const DropInfo& d : kDropInfo) {
    if (d.name.empty() || d.help.empty()) return false;
  }
  return true;
}
static_assert(AllDropsNamed(), "kDropInfo must name every Drop");

constexpr std::string_view DropName(Drop d) { return kDropInfo[static_cast<size_t>(d)].name; }

}  // namespace mpswitch::dataplane
