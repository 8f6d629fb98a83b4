#include "mpswitch/control/speaker.h"

#include <algorithm>

namespace mpswitch::control {

LevelMeter::LevelMeter(const SpeakerParams& params, bool presentation)
    : params_(params), configured_presentation_(presentation) {}

void LevelMeter::Add(uint8_t level, int64_t now) {
  if (!samples_.empty()) now = std::max(now, samples_.back().time);
  last_was_presentation_ = level == kPresentationActivity;
  const uint8_t counted = last_was_presentation_ ? 0 : std::min(level, kMaxActivity);
  samples_.push_back({now, counted});
  Prune(now);
}

// Drops samples that can no longer reach into any window ending at or after `now`. The newest
// sample is always kept: it carries the presentation state and bridges to the next one.
void LevelMeter::Prune(int64_t now) {
  const int64_t window_start = now - params_.window_ms;
  while (samples_.size() > 1) {
    const int64_t end = std::min(samples_[0].time + params_.sample_hold_ms, samples_[1].time);
    if (end > window_start) break;
    samples_.pop_front();
  }
}

int64_t LevelMeter::Score(int64_t now) const {
  if (presentation()) return 0;
  const int64_t window_start = now - params_.window_ms;
  int64_t sum = 0;
  for (size_t i = 0; i < samples_.size(); ++i) {
    const Sample& s = samples_[i];
    if (s.time >= now) break;
    int64_t end = std::min(s.time + params_.sample_hold_ms, now);
    if (i + 1 < samples_.size()) end = std::min(end, samples_[i + 1].time);
    const int64_t begin = std::max(s.time, window_start);
    if (end > begin) sum += int64_t{s.level} * (end - begin);
  }
  return sum;
}

double LevelMeter::Level(int64_t now) const {
  return static_cast<double>(Score(now)) / static_cast<double>(params_.window_ms);
}

SpeakerContest::SpeakerContest(const SpeakerParams& params) : params_(params) {}

void SpeakerContest::Add(uint64_t candidate) {
  if (!Contains(candidate)) history_.push_back(candidate);
}

bool SpeakerContest::Remove(uint64_t candidate) {
  auto it = std::find(history_.begin(), history_.end(), candidate);
  if (it == history_.end()) return false;
  const bool was_current = it == history_.begin();
  history_.erase(it);
  if (was_current) last_change_ = kNever;
  return was_current;
}

bool SpeakerContest::Contains(uint64_t candidate) const {
  return std::find(history_.begin(), history_.end(), candidate) != history_.end();
}

bool SpeakerContest::Update(absl::FunctionRef<int64_t(uint64_t)> score, int64_t now) {
  if (history_.size() < 2) return false;
  if (now - last_change_ < params_.min_hold_ms) return false;
  const int64_t threshold = score(history_[0]) + int64_t{params_.hysteresis} * params_.window_ms;
  size_t best = 0;
  int64_t best_score = 0;
  for (size_t i = 1; i < history_.size(); ++i) {
    const int64_t s = score(history_[i]);
    if (s > threshold && (best == 0 || s > best_score)) {
      best = i;
      best_score = s;
    }
  }
  if (best == 0) return false;
  std::rotate(history_.begin(), history_.begin() + static_cast<std::ptrdiff_t>(best),
              history_.begin() + static_cast<std::ptrdiff_t>(best) + 1);
  last_change_ = now;
  return true;
}

std::optional<uint64_t> SpeakerContest::current() const {
  if (history_.empty()) return std::nullopt;
  return history_.front();
}

std::optional<uint64_t> SpeakerContest::FirstWhere(absl::FunctionRef<bool(uint64_t)> accept) const {
  for (uint64_t c : history_) {
    if (accept(c)) return c;
  }
  return std::nullopt;
}

}  // namespace mpswitch::control
