#include "mpswitch/control/config.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <exception>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <type_traits>
#include <utility>

// toml++ in exceptions mode (parse errors are thrown, and caught below). Its no-exceptions API
// (TOML_EXCEPTIONS 0, toml::parse_result) lives in another ABI namespace that Debian's shared
// libtomlplusplus, built with exceptions, does not export: defining it here would not link.
#include <toml++/toml.h>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_format.h"
#include "text.h"

namespace mpswitch::control {
namespace {

using dataplane::IpAddr;

using text::Append;
using text::Cat;

// The schema: every section and key, in the order of deploy/mpswitch.toml. The reader below reads
// exactly these, the unknown-key check accepts only these, KnownConfigKeys lists them, and the
// test holds the documented file to the same list.
constexpr std::string_view kDataplaneKeys[] = {"backend",    "addresses",    "first_port",
                                               "port_count", "workers",      "cpus",
                                               "busy_poll",  "stream_slots", "eal_args"};
constexpr std::string_view kSipKeys[] = {"listen_tls", "listen_tcp", "listen_udp",
                                         "device_security_mode", "refuse_unknown_servers"};
constexpr std::string_view kSipServerKeys[] = {"name", "host", "port", "transport", "subject"};
constexpr std::string_view kTlsKeys[] = {"lsc_key", "lsc_cert", "lsc_chain", "trust_dir"};
constexpr std::string_view kMeetingsKeys[] = {"refuse_unknown"};
constexpr std::string_view kStaticMeetingKeys[] = {"number", "name",     "policy",
                                                   "mode",   "capacity", "locked"};
constexpr std::string_view kAdminKeys[] = {"enabled", "listen"};
constexpr std::string_view kLoggingKeys[] = {"level", "format"};
constexpr std::string_view kKeylogKeys[] = {"path"};
constexpr std::string_view kStateKeys[] = {"dir"};

struct Section {
  std::string_view name;
  std::span<const std::string_view> keys;
  // The one array of tables the section may hold ("servers": [[sip.servers]]) and its keys.
  std::string_view table_array;
  std::span<const std::string_view> element_keys;
};

constexpr Section kSections[] = {
    {"dataplane", kDataplaneKeys, {}, {}},
    {"sip", kSipKeys, "servers", kSipServerKeys},
    {"tls", kTlsKeys, {}, {}},
    {"meetings", kMeetingsKeys, "static", kStaticMeetingKeys},
    {"admin", kAdminKeys, {}, {}},
    {"logging", kLoggingKeys, {}, {}},
    {"keylog", kKeylogKeys, {}, {}},
    {"state", kStateKeys, {}, {}},
};

constexpr int64_t kMaxWorkers = 1024;
constexpr int64_t kMaxCpu = 1023;  // CPU_SETSIZE - 1: what sched_setaffinity's cpu_set_t holds
constexpr int64_t kMaxStreamSlots = int64_t{1} << 24;
constexpr int64_t kMaxMeetingCapacity = 1024;
constexpr size_t kMaxNameLength = 64;
// Media addresses and listeners per list: far more than any deployment needs, and it keeps the
// pairwise checks (repeats, listeners that cannot all bind) small.
constexpr size_t kMaxListEntries = 64;

template <typename E>
struct Named {
  std::string_view name;
  E value;
};

constexpr Named<DataplaneBackend> kBackends[] = {{"socket", DataplaneBackend::kSocket},
                                                 {"dpdk", DataplaneBackend::kDpdk}};
constexpr Named<SipTransport> kTransports[] = {
    {"tls", SipTransport::kTls}, {"tcp", SipTransport::kTcp}, {"udp", SipTransport::kUdp}};
constexpr Named<DeviceSecurityMode> kDeviceSecurityModes[] = {
    {"non-secure", DeviceSecurityMode::kNonSecure},
    {"encrypted", DeviceSecurityMode::kEncrypted},
    {"encrypted-sdp-keys", DeviceSecurityMode::kEncryptedSdpKeys}};
constexpr Named<SecurityPolicy> kPolicies[] = {{"secure", SecurityPolicy::kSecure},
                                               {"non-secure", SecurityPolicy::kNonSecure},
                                               {"best-effort", SecurityPolicy::kBestEffort}};
constexpr Named<SwitchingMode> kModes[] = {{"segment", SwitchingMode::kSegment},
                                           {"site", SwitchingMode::kSite}};
constexpr Named<LogLevel> kLogLevels[] = {{"debug", LogLevel::kDebug},
                                          {"info", LogLevel::kInfo},
                                          {"warning", LogLevel::kWarning},
                                          {"error", LogLevel::kError}};
constexpr Named<LogFormat> kLogFormats[] = {{"text", LogFormat::kText}, {"json", LogFormat::kJson}};

template <typename E, size_t N>
std::string_view NameOf(const Named<E> (&names)[N], E value) {
  for (const Named<E>& n : names) {
    if (n.value == value) return n.name;
  }
  return "?";
}

// `s` in double quotes, escaped, cut after about 80 bytes: values echoed in a message come from
// the file (or a fuzzer), and a message must stay one readable line.
std::string Quote(std::string_view s) {
  std::string out = "\"";
  size_t n = 0;
  for (const char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    // Cut only before the first byte of a character, never inside a UTF-8 sequence.
    if (n >= 80 && (c & 0xC0) != 0x80) {
      out += "...";
      break;
    }
    ++n;
    if (c == '"' || c == '\\') {
      out += '\\';
      out += ch;
    } else if (c < 0x20 || c == 0x7f) {
      absl::StrAppendFormat(&out, "\\u%04x", c);
    } else {
      out += ch;
    }
  }
  out += '"';
  return out;
}

// A key as TOML writes it in a dotted path: bare when it can be, quoted otherwise.
std::string KeySegment(std::string_view key) {
  bool bare = !key.empty();
  for (const char c : key) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '_' && c != '-') bare = false;
  }
  return bare ? std::string(key) : Quote(key);
}

std::string Path(std::string_view prefix, std::string_view key) {
  return Cat(prefix, KeySegment(key));
}

uint32_t LineOf(const toml::node& n) { return n.source().begin.line; }
uint32_t LineOf(const toml::key& k) { return k.source().begin.line; }

std::string_view TypeWithArticle(toml::node_type t) {
  switch (t) {
    case toml::node_type::none:
      return "nothing";
    case toml::node_type::table:
      return "a table";
    case toml::node_type::array:
      return "an array";
    case toml::node_type::string:
      return "a string";
    case toml::node_type::integer:
      return "an integer";
    case toml::node_type::floating_point:
      return "a floating-point number";
    case toml::node_type::boolean:
      return "a boolean";
    case toml::node_type::date:
      return "a date";
    case toml::node_type::time:
      return "a time";
    case toml::node_type::date_time:
      return "a date-time";
  }
  return "something else";
}

// What a key holds.
enum class Want { kString, kInteger, kBoolean, kStringArray, kIntegerArray, kTable, kTableArray };

std::string_view WantWithArticle(Want w) {
  switch (w) {
    case Want::kString:
      return "a string";
    case Want::kInteger:
      return "an integer";
    case Want::kBoolean:
      return "a boolean";
    case Want::kStringArray:
      return "an array of strings";
    case Want::kIntegerArray:
      return "an array of integers";
    case Want::kTable:
      return "a table";
    case Want::kTableArray:
      return "an array of tables";
  }
  return "something else";
}

// Element types of arrays are checked element by element, so an array is the right type here.
bool Holds(const toml::node& n, Want w) {
  switch (w) {
    case Want::kString:
      return n.is_string();
    case Want::kInteger:
      return n.is_integer();
    case Want::kBoolean:
      return n.is_boolean();
    case Want::kStringArray:
    case Want::kIntegerArray:
    case Want::kTableArray:
      return n.is_array();
    case Want::kTable:
      return n.is_table();
  }
  return false;
}

bool LooksLikeInteger(std::string_view s) {
  if (!s.empty() && (s.front() == '-' || s.front() == '+')) s.remove_prefix(1);
  if (s.empty() || s.size() > 18) return false;
  return std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// "expected an integer, got a string", with the fix when the mistake is a usual one (quotes
// around a number, a number where a string is meant, one value where a list is meant).
std::string TypeProblem(Want want, const toml::node& got, std::string_view path) {
  std::string what = Cat("expected ", WantWithArticle(want), ", got ", TypeWithArticle(got.type()));
  if (const toml::value<std::string>* s = got.as_string()) {
    const std::string& v = s->get();
    if ((want == Want::kInteger && LooksLikeInteger(v)) ||
        (want == Want::kBoolean && (v == "true" || v == "false"))) {
      Append(&what, " (write ", v, " without quotes)");
    } else if (want == Want::kStringArray) {
      Append(&what, " (write [", Quote(v), "])");
    }
  } else if (const toml::value<int64_t>* i = got.as_integer()) {
    if (want == Want::kString) Append(&what, " (write \"", i->get(), "\" in quotes)");
    if (want == Want::kIntegerArray) Append(&what, " (write [", i->get(), "])");
  } else if (want == Want::kTableArray && got.is_table()) {
    Append(&what, " (write [[", path, "]] for each entry)");
  }
  return what;
}

// Optimal string alignment distance: insertions, deletions, substitutions and swaps of two
// neighbours cost 1 each, so "transprot" is 1 from "transport".
size_t EditDistance(std::string_view a, std::string_view b) {
  const size_t m = b.size();
  std::vector<size_t> before(m + 1), prev(m + 1), cur(m + 1);
  for (size_t j = 0; j <= m; ++j) prev[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (size_t j = 1; j <= m; ++j) {
      const size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost});
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1]) {
        cur[j] = std::min(cur[j], before[j - 2] + 1);
      }
    }
    std::swap(before, prev);
    std::swap(prev, cur);
  }
  return prev[m];
}

// What an unknown key was probably meant to be: a key of the same table at most two edits away
// ("transport" for "transprot"), else the dotted path of a key of that name elsewhere
// ("dataplane.first_port" for first_port under [sip]), else nothing.
std::string Suggest(std::string_view key, std::span<const std::string_view> here) {
  if (key.empty() || key.size() > 64) return {};
  std::string lower(key);
  for (char& c : lower) c = absl::ascii_tolower(static_cast<unsigned char>(c));
  std::string_view best;
  size_t best_distance = 3;
  for (const std::string_view k : here) {
    const size_t d = EditDistance(lower, k);
    // Half the candidate's length at most, so that a short key is not "corrected" to an
    // unrelated one ("do" is two edits from "dir").
    if (d < best_distance && d <= k.size() / 2) {
      best = k;
      best_distance = d;
    }
  }
  if (!best.empty()) return std::string(best);
  for (const Section& s : kSections) {
    if (lower == s.name) return Cat("[", s.name, "]");
    if (lower == s.table_array) return Cat("[[", s.name, ".", s.table_array, "]]");
  }
  for (const std::string& path : KnownConfigKeys()) {
    const size_t dot = path.rfind('.');
    if (std::string_view(path).substr(dot + 1) == lower) return path;
  }
  return {};
}

bool ValidServerName(std::string_view s) {
  if (s.empty() || s.size() > kMaxNameLength) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-' || c == '_';
  });
}

// The user part of the SIP URI a meeting is dialled at, without escaping.
bool ValidMeetingNumber(std::string_view s) {
  if (s.empty() || s.size() > kMaxNameLength) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '+' || c == '*' || c == '.' ||
           c == '-' || c == '_';
  });
}

// An address the file names; the message starts with the quoted text.
absl::StatusOr<IpAddr> ParseAddress(std::string_view text) {
  // inet_pton stops at a NUL, so "127.0.0.1\0junk" would pass for 127.0.0.1.
  if (text.find('\0') != std::string_view::npos) {
    return absl::InvalidArgumentError(Cat(Quote(text), " contains a NUL character"));
  }
  absl::StatusOr<IpAddr> a = IpAddr::Parse(text);
  if (a.ok()) return a;
  if (text.size() > 2 && text.front() == '[' && text.back() == ']') {
    return absl::InvalidArgumentError(Cat(
        Quote(text), " is not an IPv4 or IPv6 address (write an IPv6 address without brackets)"));
  }
  return absl::InvalidArgumentError(
      Cat(Quote(text), " is not an IPv4 or IPv6 address (host names are not resolved)"));
}

// Two listeners that cannot both bind: the same port on the same address, or on a wildcard
// address of the same family.
bool Overlap(const HostPort& a, const HostPort& b) {
  if (a.port != b.port) return false;
  if (a.addr == b.addr) return true;
  return a.addr.family == b.addr.family && (a.addr.IsUnspecified() || b.addr.IsUnspecified());
}

// Walks a parsed document into a Config, collecting every problem. Values with a problem are
// left at their defaults; the Config is only returned when there is none.
class Reader {
 public:
  explicit Reader(std::string_view file) : file_(file) {}

  void Add(uint32_t line, std::string key, std::string what) {
    problems_.push_back(ConfigProblem{file_, line, std::move(key), std::move(what)});
  }

  // In line order; problems on one line in the order they were found.
  std::vector<ConfigProblem> Take() {
    std::stable_sort(
        problems_.begin(), problems_.end(),
        [](const ConfigProblem& a, const ConfigProblem& b) { return a.line < b.line; });
    return std::move(problems_);
  }

  void Document(const toml::table& root, Config& c);

 private:
  // A listener, kept for the cross-section check that no two collide.
  struct Endpoint {
    HostPort hp;
    std::string path;
    uint32_t line;
  };
  // An element of an array whose type was right.
  struct Element {
    const toml::node* node;
    std::string path;
  };
  struct ArrayRead {
    const toml::node* array = nullptr;  // null: absent or not an array (reported)
    std::vector<Element> elements;
    bool complete = true;  // every element had the right type
  };

  void Dataplane(const toml::table& t, DataplaneConfig& d);
  void Sip(const toml::table& t, SipConfig& s);
  bool Server(const toml::table& t, const std::string& prefix, SipServerConfig& sv);
  void Tls(const toml::table& t, TlsConfig& tls);
  void Meetings(const toml::table& t, MeetingsConfig& m);
  void StaticMeeting(const toml::table& t, const std::string& prefix, StaticMeetingConfig& sm);
  void Admin(const toml::table& t, AdminConfig& a);
  void CrossChecks(const Config& c);

  void CheckKeys(const toml::table& t, std::string_view prefix,
                 std::span<const std::string_view> known, std::string_view nested);
  void Missing(const toml::table& t, std::string_view prefix, std::string_view key,
               std::string_view why) {
    Add(LineOf(t), Path(prefix, key), Cat("missing; ", why));
  }
  // t[key] when present and of the right type; a type problem otherwise.
  const toml::node* Get(const toml::table& t, std::string_view prefix, std::string_view key,
                        Want want);
  const toml::node* Bool(const toml::table& t, std::string_view prefix, std::string_view key,
                         bool& out);
  template <typename T>
  const toml::node* Int(const toml::table& t, std::string_view prefix, std::string_view key,
                        int64_t lo, int64_t hi, std::string_view noun, T& out);
  bool InRange(int64_t v, int64_t lo, int64_t hi, std::string_view noun, uint32_t line,
               const std::string& path);
  const toml::node* String(const toml::table& t, std::string_view prefix, std::string_view key,
                           std::string& out);
  bool NoNul(const std::string& v, uint32_t line, const std::string& path);
  template <typename E, size_t N>
  const toml::node* Enum(const toml::table& t, std::string_view prefix, std::string_view key,
                         const Named<E> (&names)[N], E& out);
  // At most `max_elements`: a longer array is one problem and no elements.
  ArrayRead Array(const toml::table& t, std::string_view prefix, std::string_view key, Want array,
                  Want element, size_t max_elements = SIZE_MAX);
  void Listeners(const toml::table& t, std::string_view prefix, std::string_view key,
                 std::vector<HostPort>& out, std::vector<Endpoint>& endpoints);
  // The tables of an array of tables, each read by `read(table, "prefix[i].")`.
  template <typename Fn>
  const toml::array* Tables(const toml::table& t, std::string_view prefix, std::string_view key,
                            Fn read);

  std::string file_;
  std::vector<ConfigProblem> problems_;

  // What the cross-section checks may rely on.
  bool media_ports_ok_ = true;
  bool media_addresses_ok_ = true;
  bool listen_tls_given_ = false;
  std::vector<Endpoint> tcp_;  // sip.listen_tls, sip.listen_tcp as given
  std::vector<Endpoint> udp_;  // sip.listen_udp
  std::optional<Endpoint> admin_;
};

void Reader::CheckKeys(const toml::table& t, std::string_view prefix,
                       std::span<const std::string_view> known, std::string_view nested) {
  for (auto&& [k, v] : t) {
    const std::string_view name = k.str();
    if (!nested.empty() && name == nested) continue;
    if (std::find(known.begin(), known.end(), name) != known.end()) continue;
    std::vector<std::string_view> here(known.begin(), known.end());
    if (!nested.empty()) here.push_back(nested);
    std::string what = prefix.empty() && (v.is_table() || v.is_array_of_tables())
                           ? "unknown section"
                           : "unknown key";
    const std::string hint = Suggest(name, here);
    if (!hint.empty()) Append(&what, " (did you mean ", hint, "?)");
    Add(LineOf(k), Path(prefix, name), std::move(what));
  }
}

const toml::node* Reader::Get(const toml::table& t, std::string_view prefix, std::string_view key,
                              Want want) {
  const toml::node* n = t.get(key);
  if (n == nullptr) return nullptr;
  if (!Holds(*n, want)) {
    const std::string path = Path(prefix, key);
    Add(LineOf(*n), path, TypeProblem(want, *n, path));
    return nullptr;
  }
  return n;
}

const toml::node* Reader::Bool(const toml::table& t, std::string_view prefix, std::string_view key,
                               bool& out) {
  const toml::node* n = Get(t, prefix, key, Want::kBoolean);
  if (n != nullptr) out = n->as_boolean()->get();
  return n;
}

bool Reader::InRange(int64_t v, int64_t lo, int64_t hi, std::string_view noun, uint32_t line,
                     const std::string& path) {
  if (v >= lo && v <= hi) return true;
  Add(line, path,
      noun.empty() ? absl::StrFormat("%d is out of range (%d-%d)", v, lo, hi)
                   : absl::StrFormat("%d is not %s (%d-%d)", v, noun, lo, hi));
  return false;
}

template <typename T>
const toml::node* Reader::Int(const toml::table& t, std::string_view prefix, std::string_view key,
                              int64_t lo, int64_t hi, std::string_view noun, T& out) {
  const toml::node* n = Get(t, prefix, key, Want::kInteger);
  if (n == nullptr) return nullptr;
  const int64_t v = n->as_integer()->get();
  if (!InRange(v, lo, hi, noun, LineOf(*n), Path(prefix, key))) return nullptr;
  out = static_cast<T>(v);
  return n;
}

// Every string of the file ends up in a path, a C API or a log line, where a NUL would cut it.
bool Reader::NoNul(const std::string& v, uint32_t line, const std::string& path) {
  if (v.find('\0') == std::string::npos) return true;
  Add(line, path, Cat(Quote(v), " contains a NUL character"));
  return false;
}

const toml::node* Reader::String(const toml::table& t, std::string_view prefix,
                                 std::string_view key, std::string& out) {
  const toml::node* n = Get(t, prefix, key, Want::kString);
  if (n == nullptr) return nullptr;
  const std::string& v = n->as_string()->get();
  if (!NoNul(v, LineOf(*n), Path(prefix, key))) return nullptr;
  out = v;
  return n;
}

template <typename E, size_t N>
const toml::node* Reader::Enum(const toml::table& t, std::string_view prefix, std::string_view key,
                               const Named<E> (&names)[N], E& out) {
  std::string s;
  const toml::node* n = String(t, prefix, key, s);
  if (n == nullptr) return nullptr;
  for (const Named<E>& named : names) {
    if (named.name == s) {
      out = named.value;
      return n;
    }
  }
  std::string all;
  for (const Named<E>& named : names) Append(&all, all.empty() ? "" : ", ", named.name);
  Add(LineOf(*n), Path(prefix, key), Cat(Quote(s), " is not one of ", all));
  return nullptr;
}

Reader::ArrayRead Reader::Array(const toml::table& t, std::string_view prefix, std::string_view key,
                                Want array, Want element, size_t max_elements) {
  ArrayRead r;
  r.array = Get(t, prefix, key, array);
  if (r.array == nullptr) return r;
  const toml::array& a = *r.array->as_array();
  const std::string base = Path(prefix, key);
  if (a.size() > max_elements) {
    Add(LineOf(a), base, absl::StrFormat("%d entries; at most %d", a.size(), max_elements));
    r.complete = false;
    return r;
  }
  for (size_t i = 0; i < a.size(); ++i) {
    const toml::node* e = a.get(i);
    if (e == nullptr) continue;
    std::string path = Cat(base, "[", i, "]");
    if (!Holds(*e, element)) {
      Add(LineOf(*e), path, TypeProblem(element, *e, path));
      r.complete = false;
      continue;
    }
    if (element == Want::kString && !NoNul(e->as_string()->get(), LineOf(*e), path)) {
      r.complete = false;
      continue;
    }
    r.elements.push_back(Element{e, std::move(path)});
  }
  return r;
}

template <typename Fn>
const toml::array* Reader::Tables(const toml::table& t, std::string_view prefix,
                                  std::string_view key, Fn read) {
  const toml::node* n = Get(t, prefix, key, Want::kTableArray);
  if (n == nullptr) return nullptr;
  const toml::array& a = *n->as_array();
  const std::string base = Path(prefix, key);
  for (size_t i = 0; i < a.size(); ++i) {
    const toml::node* e = a.get(i);
    if (e == nullptr) continue;
    const std::string path = Cat(base, "[", i, "]");
    if (!e->is_table()) {
      Add(LineOf(*e), path, TypeProblem(Want::kTable, *e, path));
      continue;
    }
    read(*e->as_table(), Cat(path, "."));
  }
  return &a;
}

void Reader::Listeners(const toml::table& t, std::string_view prefix, std::string_view key,
                       std::vector<HostPort>& out, std::vector<Endpoint>& endpoints) {
  const ArrayRead r = Array(t, prefix, key, Want::kStringArray, Want::kString, kMaxListEntries);
  if (r.array == nullptr) return;
  std::vector<HostPort> parsed;
  for (const Element& e : r.elements) {
    const std::string& s = e.node->as_string()->get();
    absl::StatusOr<HostPort> hp = ParseHostPort(s);
    if (!hp.ok()) {
      Add(LineOf(*e.node), e.path, std::string(hp.status().message()));
      continue;
    }
    if (hp->addr.IsMulticastOrBroadcast()) {
      Add(LineOf(*e.node), e.path,
          Cat(Quote(s),
              " has a multicast or broadcast address (a listener needs one of "
              "the switch's own addresses, or 0.0.0.0 / ::)"));
      continue;
    }
    parsed.push_back(*hp);
    endpoints.push_back(Endpoint{*hp, e.path, LineOf(*e.node)});
  }
  out = std::move(parsed);
}

void Reader::Document(const toml::table& root, Config& c) {
  std::vector<std::string_view> sections;
  for (const Section& s : kSections) sections.push_back(s.name);
  CheckKeys(root, "", sections, {});

  auto section = [&](std::string_view name) -> const toml::table* {
    const toml::node* n = Get(root, "", name, Want::kTable);
    return n == nullptr ? nullptr : n->as_table();
  };
  if (const toml::table* t = section("dataplane")) Dataplane(*t, c.dataplane);
  if (const toml::table* t = section("sip")) Sip(*t, c.sip);
  if (const toml::table* t = section("tls")) Tls(*t, c.tls);
  if (const toml::table* t = section("meetings")) Meetings(*t, c.meetings);
  if (const toml::table* t = section("admin")) Admin(*t, c.admin);
  if (const toml::table* t = section("logging")) {
    CheckKeys(*t, "logging.", kLoggingKeys, {});
    Enum(*t, "logging.", "level", kLogLevels, c.logging.level);
    Enum(*t, "logging.", "format", kLogFormats, c.logging.format);
  }
  if (const toml::table* t = section("keylog")) {
    CheckKeys(*t, "keylog.", kKeylogKeys, {});
    String(*t, "keylog.", "path", c.keylog.path);
  }
  if (const toml::table* t = section("state")) {
    CheckKeys(*t, "state.", kStateKeys, {});
    String(*t, "state.", "dir", c.state.dir);
  }
  CrossChecks(c);
}

void Reader::Dataplane(const toml::table& t, DataplaneConfig& d) {
  constexpr std::string_view p = "dataplane.";
  CheckKeys(t, p, kDataplaneKeys, {});
  const bool backend_ok =
      t.get("backend") == nullptr || Enum(t, p, "backend", kBackends, d.backend);

  // Media addresses: every one is announced to endpoints, so wildcards, multicast and repeats
  // are mistakes, and there must be at least one.
  const size_t before = problems_.size();
  const ArrayRead addrs =
      Array(t, p, "addresses", Want::kStringArray, Want::kString, kMaxListEntries);
  if (addrs.array != nullptr) {
    std::vector<IpAddr> out;
    std::vector<std::string_view> paths;
    for (const Element& e : addrs.elements) {
      const std::string& s = e.node->as_string()->get();
      absl::StatusOr<IpAddr> a = ParseAddress(s);
      if (!a.ok()) {
        Add(LineOf(*e.node), e.path, std::string(a.status().message()));
        continue;
      }
      if (a->IsUnspecified()) {
        Add(LineOf(*e.node), e.path,
            Cat(Quote(s),
                " is the unspecified address; name the address endpoints send "
                "media to"));
        continue;
      }
      if (a->IsMulticastOrBroadcast()) {
        Add(LineOf(*e.node), e.path, Cat(Quote(s), " is a multicast or broadcast address"));
        continue;
      }
      const auto dup = std::find(out.begin(), out.end(), *a);
      if (dup != out.end()) {
        Add(LineOf(*e.node), e.path,
            Cat(Quote(s), " is also ", paths[static_cast<size_t>(dup - out.begin())]));
        continue;
      }
      out.push_back(*a);
      paths.push_back(e.path);
    }
    if (addrs.complete && addrs.elements.empty()) {
      Add(LineOf(*addrs.array), Path(p, "addresses"),
          "empty; the switch needs at least one media address");
    }
    d.addresses = std::move(out);
  }
  media_addresses_ok_ = problems_.size() == before;

  const bool first_given = t.get("first_port") != nullptr;
  const bool count_given = t.get("port_count") != nullptr;
  const toml::node* first = Int(t, p, "first_port", 1, 65535, "a UDP port", d.first_port);
  const toml::node* count = Int(t, p, "port_count", 1, 65535, "a port count", d.port_count);
  media_ports_ok_ = (!first_given || first != nullptr) && (!count_given || count != nullptr);
  if (media_ports_ok_ && uint32_t{d.first_port} + d.port_count > 65536) {
    // The defaults fit, so at least one of the two was given.
    const toml::node* at = count != nullptr ? count : first;
    Add(LineOf(*at), Path(p, count != nullptr ? "port_count" : "first_port"),
        absl::StrFormat("%d ports from %d end at %d, past 65535 (first_port + port_count must be "
                        "at most 65536)",
                        d.port_count, d.first_port, uint32_t{d.first_port} + d.port_count - 1));
    media_ports_ok_ = false;
  }

  const bool workers_given = t.get("workers") != nullptr;
  const bool workers_ok =
      Int(t, p, "workers", 1, kMaxWorkers, "", d.workers) != nullptr || !workers_given;

  const ArrayRead cpus = Array(t, p, "cpus", Want::kIntegerArray, Want::kInteger);
  if (cpus.array != nullptr) {
    bool ok = cpus.complete;
    std::vector<int> out;
    for (const Element& e : cpus.elements) {
      const int64_t v = e.node->as_integer()->get();
      if (!InRange(v, 0, kMaxCpu, "a CPU number", LineOf(*e.node), e.path)) {
        ok = false;
        continue;
      }
      out.push_back(static_cast<int>(v));
    }
    if (ok && workers_ok && !out.empty() && out.size() != d.workers) {
      Add(LineOf(*cpus.array), Path(p, "cpus"),
          absl::StrFormat("%d CPU%s for %d worker%s (give one CPU per worker, or none to leave "
                          "them unpinned)",
                          out.size(), out.size() == 1 ? "" : "s", d.workers,
                          d.workers == 1 ? "" : "s"));
    }
    d.cpus = std::move(out);
  }

  Bool(t, p, "busy_poll", d.busy_poll);
  Int(t, p, "stream_slots", 1, kMaxStreamSlots, "", d.stream_slots);

  const ArrayRead eal = Array(t, p, "eal_args", Want::kStringArray, Want::kString);
  if (eal.array != nullptr) {
    d.eal_args.clear();
    for (const Element& e : eal.elements) d.eal_args.push_back(e.node->as_string()->get());
    // A setting that would be silently ignored is refused like a misspelt key.
    if (backend_ok && d.backend != DataplaneBackend::kDpdk && !d.eal_args.empty()) {
      Add(LineOf(*eal.array), Path(p, "eal_args"),
          absl::StrFormat("given, but backend is %s (EAL arguments apply to the dpdk backend "
                          "only)",
                          Quote(DataplaneBackendName(d.backend))));
    }
  }
}

void Reader::Sip(const toml::table& t, SipConfig& s) {
  constexpr std::string_view p = "sip.";
  CheckKeys(t, p, kSipKeys, "servers");
  listen_tls_given_ = t.get("listen_tls") != nullptr;
  Listeners(t, p, "listen_tls", s.listen_tls, tcp_);
  Listeners(t, p, "listen_tcp", s.listen_tcp, tcp_);
  Listeners(t, p, "listen_udp", s.listen_udp, udp_);
  Enum(t, p, "device_security_mode", kDeviceSecurityModes, s.device_security_mode);
  Bool(t, p, "refuse_unknown_servers", s.refuse_unknown_servers);

  // name -> where it was first seen (path, line).
  std::map<std::string, std::pair<std::string, uint32_t>> seen;
  std::vector<SipServerConfig> servers;
  const toml::array* a =
      Tables(t, p, "servers", [&](const toml::table& e, const std::string& prefix) {
        SipServerConfig sv;
        if (Server(e, prefix, sv)) {
          const uint32_t line = LineOf(*e.get("name"));
          const auto [it, added] =
              seen.try_emplace(sv.name, prefix.substr(0, prefix.size() - 1), line);
          if (!added) {
            Add(line, Path(prefix, "name"),
                absl::StrFormat("%s is also the name of %s (line %d)", Quote(sv.name),
                                it->second.first, it->second.second));
          }
        }
        servers.push_back(std::move(sv));
      });
  if (a == nullptr) return;
  if (a->size() > kMaxSipServers) {
    const toml::node* extra = a->get(kMaxSipServers);
    Add(extra != nullptr ? LineOf(*extra) : LineOf(*a), "sip.servers",
        absl::StrFormat("%d servers; at most %d (CM1..CM%d)", a->size(), kMaxSipServers,
                        kMaxSipServers));
  }
  s.servers = std::move(servers);
}

// True when the server's name was read (so duplicates can be checked).
bool Reader::Server(const toml::table& t, const std::string& prefix, SipServerConfig& sv) {
  constexpr std::string_view kEveryEntry = "every [[sip.servers]] entry needs one";
  CheckKeys(t, prefix, kSipServerKeys, {});

  bool name_ok = false;
  if (t.get("name") == nullptr) {
    Missing(t, prefix, "name", kEveryEntry);
  } else if (const toml::node* n = String(t, prefix, "name", sv.name)) {
    name_ok = ValidServerName(sv.name);
    if (!name_ok) {
      Add(LineOf(*n), Path(prefix, "name"),
          absl::StrFormat("%s is not a server name (1-%d letters, digits, '.', '-', '_')",
                          Quote(sv.name), kMaxNameLength));
    }
  }

  std::string host;
  if (t.get("host") == nullptr) {
    Missing(t, prefix, "host", kEveryEntry);
  } else if (const toml::node* n = String(t, prefix, "host", host)) {
    absl::StatusOr<IpAddr> a = ParseAddress(host);
    if (!a.ok()) {
      Add(LineOf(*n), Path(prefix, "host"), std::string(a.status().message()));
    } else if (a->IsUnspecified() || a->IsMulticastOrBroadcast()) {
      Add(LineOf(*n), Path(prefix, "host"),
          Cat(Quote(host),
              " is not a server's address (unspecified, multicast or "
              "broadcast)"));
    } else {
      sv.host = *a;
    }
  }

  const bool transport_ok =
      t.get("transport") == nullptr || Enum(t, prefix, "transport", kTransports, sv.transport);
  // Where call control listens by default: 5061 for SIP over TLS, 5060 otherwise.
  sv.port = sv.transport == SipTransport::kTls ? 5061 : 5060;
  Int(t, prefix, "port", 1, 65535, "a port", sv.port);

  const toml::node* subject = String(t, prefix, "subject", sv.subject);
  if (transport_ok && sv.transport == SipTransport::kTls && sv.subject.empty()) {
    // Without it any certificate the trust store accepts would pass for this server.
    constexpr std::string_view kWhy =
        "a tls server must name the X.509 subject (CN or SAN) its certificate presents";
    if (t.get("subject") == nullptr) {
      Missing(t, prefix, "subject", kWhy);
    } else if (subject != nullptr) {
      Add(LineOf(*subject), Path(prefix, "subject"), Cat("empty; ", kWhy));
    }
  }
  return name_ok;
}

void Reader::Tls(const toml::table& t, TlsConfig& tls) {
  constexpr std::string_view p = "tls.";
  CheckKeys(t, p, kTlsKeys, {});
  const toml::node* key = String(t, p, "lsc_key", tls.lsc_key);
  const toml::node* cert = String(t, p, "lsc_cert", tls.lsc_cert);
  const toml::node* chain = String(t, p, "lsc_chain", tls.lsc_chain);
  String(t, p, "trust_dir", tls.trust_dir);
  // A key without its certificate (or the reverse) would make the daemon fall back to the
  // development PKI, or fail, far from the line that caused it.
  constexpr std::string_view kTogether =
      "give the LSC key and its certificate together, or neither for the development PKI";
  if (key != nullptr && !tls.lsc_key.empty() && tls.lsc_cert.empty()) {
    Add(LineOf(*key), "tls.lsc_key", Cat("set, but tls.lsc_cert is empty (", kTogether, ")"));
  }
  if (cert != nullptr && !tls.lsc_cert.empty() && tls.lsc_key.empty()) {
    Add(LineOf(*cert), "tls.lsc_cert", Cat("set, but tls.lsc_key is empty (", kTogether, ")"));
  }
  if (chain != nullptr && !tls.lsc_chain.empty() && tls.lsc_cert.empty()) {
    Add(LineOf(*chain), "tls.lsc_chain",
        "set, but tls.lsc_cert is empty (the chain is sent with the certificate it issued)");
  }
}

void Reader::Meetings(const toml::table& t, MeetingsConfig& m) {
  constexpr std::string_view p = "meetings.";
  CheckKeys(t, p, kMeetingsKeys, "static");
  Bool(t, p, "refuse_unknown", m.refuse_unknown);

  // number -> where it was first seen (path, line).
  std::map<std::string, std::pair<std::string, uint32_t>> seen;
  std::vector<StaticMeetingConfig> meetings;
  const toml::array* a =
      Tables(t, p, "static", [&](const toml::table& e, const std::string& prefix) {
        StaticMeetingConfig sm;
        StaticMeeting(e, prefix, sm);
        const toml::node* number = e.get("number");
        if (number != nullptr && !sm.number.empty()) {
          const uint32_t line = LineOf(*number);
          const auto [it, added] =
              seen.try_emplace(sm.number, prefix.substr(0, prefix.size() - 1), line);
          if (!added) {
            Add(line, Path(prefix, "number"),
                absl::StrFormat("%s is also the number of %s (line %d)", Quote(sm.number),
                                it->second.first, it->second.second));
          }
        }
        meetings.push_back(std::move(sm));
      });
  if (a != nullptr) m.static_meetings = std::move(meetings);
}

void Reader::StaticMeeting(const toml::table& t, const std::string& prefix,
                           StaticMeetingConfig& sm) {
  CheckKeys(t, prefix, kStaticMeetingKeys, {});
  if (t.get("number") == nullptr) {
    Missing(t, prefix, "number", "every [[meetings.static]] entry needs one");
  } else if (const toml::node* n = String(t, prefix, "number", sm.number)) {
    if (!ValidMeetingNumber(sm.number)) {
      Add(LineOf(*n), Path(prefix, "number"),
          absl::StrFormat("%s is not a meeting number (1-%d digits, letters, '+', '*', '.', "
                          "'-', '_')",
                          Quote(sm.number), kMaxNameLength));
      sm.number.clear();  // not checked for duplicates
    }
  }
  String(t, prefix, "name", sm.name);
  Enum(t, prefix, "policy", kPolicies, sm.policy);
  Enum(t, prefix, "mode", kModes, sm.mode);
  Int(t, prefix, "capacity", 1, kMaxMeetingCapacity, "", sm.capacity);
  Bool(t, prefix, "locked", sm.locked);
}

void Reader::Admin(const toml::table& t, AdminConfig& a) {
  constexpr std::string_view p = "admin.";
  CheckKeys(t, p, kAdminKeys, {});
  Bool(t, p, "enabled", a.enabled);
  std::string listen;
  if (const toml::node* n = String(t, p, "listen", listen)) {
    absl::StatusOr<HostPort> hp = ParseHostPort(listen);
    if (!hp.ok()) {
      Add(LineOf(*n), "admin.listen", std::string(hp.status().message()));
    } else if (hp->addr.IsMulticastOrBroadcast()) {
      Add(LineOf(*n), "admin.listen", Cat(Quote(listen), " has a multicast or broadcast address"));
    } else {
      a.listen = *hp;
      admin_ = Endpoint{*hp, "admin.listen", LineOf(*n)};
    }
  }
}

// Listeners that could not all bind, and SIP over UDP on a media port (the dataplane owns those).
// Defaults take part too (line 0): a listen_tcp on 5061 collides with the default TLS listener.
void Reader::CrossChecks(const Config& c) {
  std::vector<Endpoint> tcp;
  if (!listen_tls_given_) {
    for (size_t i = 0; i < c.sip.listen_tls.size(); ++i) {
      tcp.push_back(Endpoint{c.sip.listen_tls[i], Cat("sip.listen_tls[", i, "]"), 0});
    }
  }
  tcp.insert(tcp.end(), tcp_.begin(), tcp_.end());
  if (c.admin.enabled) tcp.push_back(admin_.value_or(Endpoint{c.admin.listen, "admin.listen", 0}));
  for (const std::vector<Endpoint>* list : {&tcp, &udp_}) {
    for (size_t i = 0; i < list->size(); ++i) {
      for (size_t j = 0; j < i; ++j) {
        if (!Overlap((*list)[i].hp, (*list)[j].hp)) continue;
        // Said on the line of the one the file gave (two defaults never collide).
        const Endpoint& at = (*list)[i].line != 0 ? (*list)[i] : (*list)[j];
        const Endpoint& was = (*list)[i].line != 0 ? (*list)[j] : (*list)[i];
        const std::string_view by_default = was.line == 0 ? " (by default)" : "";
        Add(at.line, at.path,
            at.hp == was.hp ? Cat(FormatHostPort(at.hp), " is also ", was.path, by_default)
                            : Cat(FormatHostPort(at.hp), " overlaps ", was.path, " = ",
                                  FormatHostPort(was.hp), by_default));
        break;
      }
    }
  }
  if (!media_ports_ok_ || !media_addresses_ok_) return;
  const uint32_t first = c.dataplane.first_port;
  const uint32_t end = first + c.dataplane.port_count;  // exclusive
  for (const Endpoint& e : udp_) {
    if (e.hp.port < first || e.hp.port >= end) continue;
    const bool on_media_address =
        e.hp.addr.IsUnspecified() ||
        std::find(c.dataplane.addresses.begin(), c.dataplane.addresses.end(), e.hp.addr) !=
            c.dataplane.addresses.end();
    if (!on_media_address) continue;
    Add(e.line, e.path,
        absl::StrFormat("%s is one of the media ports (dataplane: %d-%d)", FormatHostPort(e.hp),
                        first, end - 1));
  }
}

std::vector<ConfigProblem> Read(std::string_view text, std::string_view file, Config& config) {
  Reader r(file);
  if (text.size() > kMaxConfigFileBytes) {
    r.Add(0, "",
          absl::StrFormat("%d bytes, over the %d-byte (1 MiB) limit of a config file", text.size(),
                          kMaxConfigFileBytes));
    return r.Take();
  }
  std::optional<toml::table> root;
  try {
    root.emplace(toml::parse(text, file));
  } catch (const toml::parse_error& e) {
    r.Add(e.source().begin.line, "", Cat("not valid TOML: ", e.description()));
    return r.Take();
  } catch (const std::exception& e) {
    r.Add(0, "", Cat("cannot be read: ", e.what()));
    return r.Take();
  }
  r.Document(*root, config);
  return r.Take();
}

// Closes a file descriptor on every return path of LoadConfig.
struct Fd {
  int fd;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};

}  // namespace

std::string_view DataplaneBackendName(DataplaneBackend b) { return NameOf(kBackends, b); }
std::string_view SipTransportName(SipTransport t) { return NameOf(kTransports, t); }
std::string_view DeviceSecurityModeName(DeviceSecurityMode m) {
  return NameOf(kDeviceSecurityModes, m);
}
std::string_view SecurityPolicyConfigName(SecurityPolicy p) { return NameOf(kPolicies, p); }
std::string_view SwitchingModeConfigName(SwitchingMode m) { return NameOf(kModes, m); }
std::string_view LogLevelName(LogLevel l) { return NameOf(kLogLevels, l); }
std::string_view LogFormatName(LogFormat f) { return NameOf(kLogFormats, f); }

absl::StatusOr<HostPort> ParseHostPort(std::string_view text) {
  auto bad = [&](std::string_view why) {
    return absl::InvalidArgumentError(Cat(Quote(text), " ", why));
  };
  if (text.find('\0') != std::string_view::npos) return bad("contains a NUL character");
  std::string_view host;
  std::string_view port;
  const bool bracketed = !text.empty() && text.front() == '[';
  if (bracketed) {
    const size_t close = text.find(']');
    if (close == std::string_view::npos) return bad("has no ']' after its IPv6 address");
    host = text.substr(1, close - 1);
    const std::string_view rest = text.substr(close + 1);
    if (rest.empty()) return bad("has no port (write [address]:port)");
    if (rest.front() != ':') return bad("has something other than :port after ']'");
    port = rest.substr(1);
  } else {
    const size_t colon = text.rfind(':');
    if (colon == std::string_view::npos) {
      return bad("has no port (write address:port, or [address]:port for IPv6)");
    }
    if (text.find(':') != colon) {
      return bad("is not address:port (write an IPv6 address in brackets, as [address]:port)");
    }
    host = text.substr(0, colon);
    port = text.substr(colon + 1);
  }
  if (port.empty()) return bad("has an empty port (1-65535)");
  if (!std::all_of(port.begin(), port.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    return bad(Cat("has port ", Quote(port), ", not a number (1-65535)"));
  }
  uint32_t value = 0;
  for (const char c : port) {
    value = value * 10 + static_cast<uint32_t>(c - '0');
    if (value > 65535) break;  // also keeps a long run of digits from overflowing
  }
  if (value < 1 || value > 65535) {
    return bad(
        Cat("has port ", port.size() > 8 ? Quote(port) : std::string(port), ", outside 1-65535"));
  }
  absl::StatusOr<IpAddr> a = IpAddr::Parse(host);
  if (!a.ok()) {
    return bad(Cat("has host ", Quote(host),
                   ", not an IPv4 or IPv6 address (host names are not resolved)"));
  }
  if (bracketed && !a->is_v6())
    return bad("has an IPv4 address in brackets (only IPv6 takes them)");
  return HostPort{*a, static_cast<uint16_t>(value)};
}

std::string FormatHostPort(const HostPort& hp) {
  if (hp.addr.is_v6()) return Cat("[", hp.addr.ToString(), "]:", hp.port);
  return Cat(hp.addr.ToString(), ":", hp.port);
}

std::string ConfigProblem::ToString() const {
  std::string out = file;
  if (line > 0) Append(&out, ":", line);
  Append(&out, ": ");
  if (!key.empty()) Append(&out, key, ": ");
  Append(&out, what);
  return out;
}

std::string FormatConfigProblems(const std::vector<ConfigProblem>& problems) {
  std::string out;
  for (const ConfigProblem& p : problems) {
    if (!out.empty()) out += '\n';
    out += p.ToString();
  }
  return out;
}

std::vector<ConfigProblem> CheckConfig(std::string_view toml_text, std::string_view file_name) {
  Config ignored;
  return Read(toml_text, file_name, ignored);
}

absl::StatusOr<Config> ParseConfig(std::string_view toml_text, std::string_view file_name) {
  Config config;
  const std::vector<ConfigProblem> problems = Read(toml_text, file_name, config);
  if (!problems.empty()) return absl::InvalidArgumentError(FormatConfigProblems(problems));
  return config;
}

absl::StatusOr<Config> LoadConfig(const std::string& path) {
  const Fd f{::open(path.c_str(), O_RDONLY | O_CLOEXEC)};
  if (f.fd < 0) {
    const int err = errno;
    const std::string msg =
        absl::StrFormat("cannot open config file %s: %s", path, std::strerror(err));
    if (err == ENOENT) return absl::NotFoundError(msg);
    if (err == EACCES || err == EPERM) return absl::PermissionDeniedError(msg);
    return absl::FailedPreconditionError(msg);
  }
  struct stat st {};
  if (::fstat(f.fd, &st) != 0) {
    return absl::FailedPreconditionError(
        absl::StrFormat("cannot stat config file %s: %s", path, std::strerror(errno)));
  }
  if (S_ISDIR(st.st_mode)) {
    return absl::FailedPreconditionError(
        absl::StrFormat("config file %s is a directory; name the .toml file in it", path));
  }
  auto too_large = [&](const std::string& size) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "config file %s is %s, over the 1 MiB limit (a config is a few KiB: is this the right "
        "file?)",
        path, size));
  };
  // The size is checked before reading, and again while reading: a pipe has no size, and a file
  // may grow.
  if (S_ISREG(st.st_mode) && st.st_size > static_cast<off_t>(kMaxConfigFileBytes)) {
    return too_large(Cat(st.st_size, " bytes"));
  }
  std::string text;
  char buf[16384];
  for (;;) {
    const ssize_t n = ::read(f.fd, buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      return absl::FailedPreconditionError(
          absl::StrFormat("cannot read config file %s: %s", path, std::strerror(errno)));
    }
    if (n == 0) break;
    text.append(buf, static_cast<size_t>(n));
    if (text.size() > kMaxConfigFileBytes) return too_large("more than 1048576 bytes");
  }
  return ParseConfig(text, path);
}

const std::vector<std::string>& KnownConfigKeys() {
  static const std::vector<std::string>* const keys = [] {
    auto* v = new std::vector<std::string>;
    for (const Section& s : kSections) {
      for (const std::string_view k : s.keys) v->push_back(Cat(s.name, ".", k));
      for (const std::string_view k : s.element_keys) {
        v->push_back(Cat(s.name, ".", s.table_array, "[].", k));
      }
    }
    return v;
  }();
  return *keys;
}

}  // namespace mpswitch::control
