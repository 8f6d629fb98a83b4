// Speaker detection from the audio activity metric (PROTOCOLS.md §2): a smoothed level per audio
// stream, and a contest for the floor with hysteresis, a minimum hold time and a recency history.
//
// Pure logic: no I/O, no clock, no threads. Every time is an int64_t millisecond count passed by
// the caller, and the same inputs always give the same outputs. Not thread-safe; the meeting that
// owns these objects is driven by one control thread.
#pragma once

#include <cstdint>
#include <deque>
#include <optional>
#include <vector>

#include "absl/functional/function_ref.h"

namespace mpswitch::control {

// The activity byte value an endpoint sends on presentation audio (PROTOCOLS.md §2). It says
// "this is not a talker", so it never counts as loudness.
inline constexpr uint8_t kPresentationActivity = 99;
inline constexpr uint8_t kMaxActivity = 100;

struct SpeakerParams {
  // A challenger takes the floor only when its smoothed level exceeds the current speaker's by
  // more than this many points (of 0..100). Six points is about the spread of a steady talker's
  // window average in TIP activity metrics, so noise between two equal talkers never flips it.
  int hysteresis = 6;
  // No change of speaker within this long of the previous change: a camera switch costs an IDR
  // from the new source (a bandwidth spike for every receiver), and viewers find faster cutting
  // restless.
  int64_t min_hold_ms = 1500;
  // The level is the time-weighted average of the activity metric over this window. 500 ms spans
  // a couple of syllables: short enough to follow turn-taking, long enough that a cough or a
  // door slam does not take the floor.
  int64_t window_ms = 500;
  // How long one activity sample stands for when no newer one follows it. Audio packets (hence
  // samples) come every 20-40 ms; 100 ms bridges a few lost or coalesced samples, and bounds how
  // long a stream that stopped sending keeps its level: it decays to 0 within
  // sample_hold_ms + window_ms of its last sample.
  int64_t sample_hold_ms = 100;
};

// Smoothed activity of one audio stream. The metric is treated as a step function: sample i holds
// from its time until the next sample or for `sample_hold_ms`, whichever is shorter, and 0
// elsewhere. The score is the integral of that function over (now - window_ms, now], so a louder
// or longer-talking stream scores higher and a silent one decays to 0 by itself, without the
// caller having to report silence.
//
// Samples of 99 (presentation audio) count as silence, and while a stream's newest sample is 99,
// or when the meter was built with `presentation = true` (the leg's configured presentation audio
// SSRC), it scores 0: presentation audio never competes for the floor.
class LevelMeter {
 public:
  explicit LevelMeter(const SpeakerParams& params, bool presentation = false);

  // `level` above 100 is clamped to 100. A time earlier than the previous sample is taken as the
  // previous sample's time, so a reordered report can neither rewind nor break the integral.
  void Add(uint8_t level, int64_t now);

  // Integral of the level over the window ending at `now`, in level-milliseconds:
  // 0 .. 100 * window_ms. Integer, so comparisons are exact and platform independent.
  int64_t Score(int64_t now) const;
  // Score(now) / window_ms: the average level over the window, 0..100, for logs and tests.
  double Level(int64_t now) const;

  // True for a configured presentation stream, and while the newest sample is 99: the endpoint
  // says this stream carries presentation audio.
  bool presentation() const { return configured_presentation_ || last_was_presentation_; }

 private:
  struct Sample {
    int64_t time;
    uint8_t level;
  };
  void Prune(int64_t now);

  SpeakerParams params_;
  bool configured_presentation_;
  bool last_was_presentation_ = false;
  std::deque<Sample> samples_;  // oldest first, times non-decreasing
};

// One contest for the floor among candidates identified by a caller-chosen 64-bit id (an audio
// stream, a segment, a site). The contest keeps a recency history: the current speaker first,
// then the previous speakers from most to least recent, then candidates that never spoke in the
// order they were added. Callers that must not show a candidate (a receiver never sees itself)
// take the first acceptable entry of the history, which is how "the current speaker sees the
// previous one" falls out.
//
// The current speaker is always the first history entry, even before anybody spoke (then it is
// the first candidate added), so a display has something sensible to show from the start.
class SpeakerContest {
 public:
  explicit SpeakerContest(const SpeakerParams& params);

  // Appends `candidate` to the end of the history (least recent). No effect if already present.
  void Add(uint64_t candidate);
  // Returns true when the removed candidate was the current speaker. The one who inherits the
  // floor did not win it by speaking, so the hold time is lifted and the loudest remaining
  // candidate may take the floor at the next Update.
  bool Remove(uint64_t candidate);
  bool Contains(uint64_t candidate) const;

  // Re-evaluates the floor at `now` with `score` (a LevelMeter-style integral, level-ms). The
  // loudest challenger whose score exceeds the current speaker's by more than
  // hysteresis * window_ms takes the floor, unless the last change was less than min_hold_ms ago.
  // Ties go to the more recent speaker (earlier in the history). Returns true when the speaker
  // changed.
  bool Update(absl::FunctionRef<int64_t(uint64_t)> score, int64_t now);

  std::optional<uint64_t> current() const;
  // Most recent first; see the class comment.
  const std::vector<uint64_t>& history() const { return history_; }
  // First history entry for which `accept` is true.
  std::optional<uint64_t> FirstWhere(absl::FunctionRef<bool(uint64_t)> accept) const;

 private:
  static constexpr int64_t kNever = INT64_MIN / 4;

  SpeakerParams params_;
  std::vector<uint64_t> history_;
  int64_t last_change_ = kNever;
};

}  // namespace mpswitch::control
