// String and path helpers for the control plane's files and messages. Debian builds Abseil with
// its own absl::string_view (ABSL_OPTION_USE_STD_STRING_VIEW 0) rather than std::string_view, so
// absl::StrCat and friends do not take a std::string_view; these take both (and integers), so the
// code can stay in std::string_view throughout. (absl::StrFormat takes std::string_view as is.)
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <type_traits>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace mpswitch::control::text {

inline std::string_view View(absl::string_view s) { return {s.data(), s.size()}; }
inline absl::string_view Absl(std::string_view s) { return {s.data(), s.size()}; }

inline void AppendOne(std::string& out, std::string_view s) { out.append(s); }
inline void AppendOne(std::string& out, absl::string_view s) { out.append(s.data(), s.size()); }
inline void AppendOne(std::string& out, const std::string& s) { out.append(s); }
inline void AppendOne(std::string& out, const char* s) { out.append(s); }
inline void AppendOne(std::string& out, char c) { out.push_back(c); }
template <typename T>
  requires(std::is_integral_v<T> && !std::is_same_v<T, char> && !std::is_same_v<T, bool>)
void AppendOne(std::string& out, T v) {
  out.append(std::to_string(v));
}

template <typename... A>
void Append(std::string* out, const A&... a) {
  (AppendOne(*out, a), ...);
}
template <typename... A>
std::string Cat(const A&... a) {
  std::string s;
  (AppendOne(s, a), ...);
  return s;
}

inline bool Contains(std::string_view s, std::string_view part) {
  return s.find(part) != std::string_view::npos;
}
inline bool StartsWith(std::string_view s, std::string_view p) { return s.starts_with(p); }
inline bool EndsWith(std::string_view s, std::string_view p) { return s.ends_with(p); }
inline std::string_view Strip(std::string_view s) {
  auto space = [](char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; };
  while (!s.empty() && space(s.front())) s.remove_prefix(1);
  while (!s.empty() && space(s.back())) s.remove_suffix(1);
  return s;
}
inline bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    auto lower = [](char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; };
    if (lower(a[i]) != lower(b[i])) return false;
  }
  return true;
}

// The directory part of a path ("." when there is none) and the last component.
inline std::string DirOf(const std::string& path) {
  const size_t slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}
inline std::string BaseOf(const std::string& path) {
  const size_t slash = path.rfind('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

// A failed system call as a status of the matching code.
inline absl::Status ErrnoError(int err, std::string message) {
  return absl::Status(absl::ErrnoToStatusCode(err), std::move(message));
}

}  // namespace mpswitch::control::text
