#include "mpswitch/control/config.h"

#include <gtest/gtest.h>
#include <toml++/toml.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <set>
#include <sstream>
#include <string>
#include <vector>

namespace mpswitch::control {
namespace {

const std::string kDocumented = std::string(MPSWITCH_SOURCE_DIR) + "/deploy/mpswitch.toml";

std::string Slurp(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

// One string per line, so that each test's line numbers can be read off its source.
std::string Lines(std::initializer_list<std::string_view> lines) {
  std::string out;
  for (std::string_view l : lines) {
    out.append(l);
    out += '\n';
  }
  return out;
}

std::vector<std::string> Problems(std::string_view text) {
  std::vector<std::string> out;
  for (const ConfigProblem& p : CheckConfig(text, "t.toml")) out.push_back(p.ToString());
  return out;
}

// Every leaf key path of a parsed document, "[]" for the elements of an array of tables: the
// same form as KnownConfigKeys, found independently of the parser under test.
void Walk(const toml::table& t, const std::string& prefix, std::set<std::string>& out) {
  for (auto&& [k, v] : t) {
    const std::string path = prefix + std::string(k.str());
    if (const toml::table* sub = v.as_table()) {
      Walk(*sub, path + ".", out);
    } else if (const toml::array* a = v.as_array(); a != nullptr && a->is_array_of_tables()) {
      for (const toml::node& e : *a) Walk(*e.as_table(), path + "[].", out);
    } else {
      out.insert(path);
    }
  }
}

std::set<std::string> KeyPaths(const std::string& text) {
  std::set<std::string> out;
  try {
    // Both arguments as string_view: a const char* path would match two overloads of parse.
    Walk(toml::parse(std::string_view(text), std::string_view("t.toml")), "", out);
  } catch (const toml::parse_error& e) {
    ADD_FAILURE() << "line " << e.source().begin.line << ": " << e.description();
  }
  return out;
}

TEST(ConfigTest, EmptyTextIsTheEmbeddedDefault) {
  for (const std::string_view text : {"", "# nothing\n\n", "[dataplane]\n[sip]\n[state]\n"}) {
    absl::StatusOr<Config> c = ParseConfig(text, "t.toml");
    ASSERT_TRUE(c.ok()) << c.status();
    EXPECT_TRUE(*c == Config{}) << text;
  }
  const Config c{};
  EXPECT_EQ(c.dataplane.backend, DataplaneBackend::kSocket);
  ASSERT_EQ(c.dataplane.addresses.size(), 1u);
  EXPECT_EQ(c.dataplane.addresses[0].ToString(), "127.0.0.1");
  EXPECT_EQ(c.dataplane.first_port, 16384);
  EXPECT_EQ(c.dataplane.port_count, 16384);
  EXPECT_EQ(c.dataplane.workers, 1u);
  EXPECT_TRUE(c.dataplane.cpus.empty());
  EXPECT_FALSE(c.dataplane.busy_poll);
  EXPECT_EQ(c.dataplane.stream_slots, 65536u);
  EXPECT_TRUE(c.dataplane.eal_args.empty());
  ASSERT_EQ(c.sip.listen_tls.size(), 1u);
  EXPECT_EQ(FormatHostPort(c.sip.listen_tls[0]), "127.0.0.1:5061");
  EXPECT_TRUE(c.sip.listen_tcp.empty());
  EXPECT_TRUE(c.sip.listen_udp.empty());
  EXPECT_EQ(c.sip.device_security_mode, DeviceSecurityMode::kEncrypted);
  EXPECT_TRUE(c.sip.refuse_unknown_servers);
  EXPECT_TRUE(c.sip.servers.empty());
  EXPECT_TRUE(c.tls == TlsConfig{});
  EXPECT_TRUE(c.tls.lsc_key.empty() && c.tls.lsc_cert.empty() && c.tls.lsc_chain.empty() &&
              c.tls.trust_dir.empty());
  EXPECT_TRUE(c.meetings.refuse_unknown);
  EXPECT_TRUE(c.meetings.static_meetings.empty());
  EXPECT_TRUE(c.admin.enabled);
  EXPECT_EQ(FormatHostPort(c.admin.listen), "127.0.0.1:8443");
  EXPECT_EQ(c.logging.level, LogLevel::kInfo);
  EXPECT_EQ(c.logging.format, LogFormat::kText);
  EXPECT_EQ(c.keylog.path, "");
  EXPECT_EQ(c.state.dir, "");
}

TEST(ConfigTest, DocumentedFileIsTheDefaultsPlusOneExampleEach) {
  absl::StatusOr<Config> c = LoadConfig(kDocumented);
  ASSERT_TRUE(c.ok()) << c.status();
  ASSERT_EQ(c->sip.servers.size(), 1u);
  const SipServerConfig& server = c->sip.servers[0];
  EXPECT_EQ(server.name, "cucm0");
  EXPECT_EQ(server.host.ToString(), "127.0.0.1");
  EXPECT_EQ(server.port, 5061);
  EXPECT_EQ(server.transport, SipTransport::kTls);
  EXPECT_EQ(server.subject, "cucm0");
  // The example meeting shows every default of an entry.
  ASSERT_EQ(c->meetings.static_meetings.size(), 1u);
  StaticMeetingConfig meeting;
  meeting.number = "8001";
  meeting.name = "Board room";
  EXPECT_TRUE(c->meetings.static_meetings[0] == meeting);

  Config rest = *c;
  rest.sip.servers.clear();
  rest.meetings.static_meetings.clear();
  EXPECT_TRUE(rest == Config{}) << "deploy/mpswitch.toml must show the default of every key";
}

TEST(ConfigTest, DocumentedFileNamesEveryKnownKey) {
  const std::vector<std::string>& known = KnownConfigKeys();
  const std::set<std::string> known_set(known.begin(), known.end());
  EXPECT_EQ(known_set.size(), known.size()) << "a key listed twice";
  EXPECT_EQ(KeyPaths(Slurp(kDocumented)), known_set);
  EXPECT_TRUE(known_set.count("dataplane.first_port"));
  EXPECT_TRUE(known_set.count("sip.servers[].host"));
  EXPECT_TRUE(known_set.count("meetings.static[].policy"));
  EXPECT_FALSE(known_set.count("sip.servers"));
}

TEST(ConfigTest, EveryKeyOverridden) {
  const std::string text = Lines({
      "[dataplane]",
      "backend = \"dpdk\"",
      "addresses = [\"192.0.2.10\", \"2001:db8::10\"]",
      "first_port = 20000",
      "port_count = 1000",
      "workers = 2",
      "cpus = [2, 3]",
      "busy_poll = true",
      "stream_slots = 1024",
      "eal_args = [\"-l\", \"0-2\"]",
      "",
      "[sip]",
      "listen_tls = [\"192.0.2.10:5061\", \"[2001:db8::10]:5061\"]",
      "listen_tcp = [\"192.0.2.10:5060\"]",
      "listen_udp = [\"0.0.0.0:5060\"]",
      "device_security_mode = \"encrypted-sdp-keys\"",
      "refuse_unknown_servers = false",
      "",
      "[[sip.servers]]",
      "name = \"cm1\"",
      "host = \"192.0.2.1\"",
      "port = 5070",
      "transport = \"udp\"",
      "subject = \"cm1.example.com\"",
      "",
      "[[sip.servers]]",
      "name = \"cm2\"",
      "host = \"2001:db8::2\"",
      "transport = \"tcp\"",
      "",
      "[tls]",
      "lsc_key = \"/etc/mpswitch/lsc.key\"",
      "lsc_cert = \"/etc/mpswitch/lsc.pem\"",
      "lsc_chain = \"/etc/mpswitch/chain.pem\"",
      "trust_dir = \"/etc/mpswitch/trust\"",
      "",
      "[meetings]",
      "refuse_unknown = false",
      "",
      "[[meetings.static]]",
      "number = \"+15550100\"",
      "name = \"Ops\"",
      "policy = \"best-effort\"",
      "mode = \"site\"",
      "capacity = 3",
      "locked = true",
      "",
      "[[meetings.static]]",
      "number = \"8002\"",
      "policy = \"non-secure\"",
      "",
      "[admin]",
      "enabled = false",
      "listen = \"[::1]:9443\"",
      "",
      "[logging]",
      "level = \"debug\"",
      "format = \"json\"",
      "",
      "[keylog]",
      "path = \"/tmp/keys.log\"",
      "",
      "[state]",
      "dir = \"/var/lib/mpswitch\"",
  });
  // The text sets every key the parser knows, so every key's reading is checked below.
  const std::vector<std::string>& known = KnownConfigKeys();
  EXPECT_EQ(KeyPaths(text), std::set<std::string>(known.begin(), known.end()));

  absl::StatusOr<Config> c = ParseConfig(text, "t.toml");
  ASSERT_TRUE(c.ok()) << c.status();
  const DataplaneConfig& d = c->dataplane;
  EXPECT_EQ(d.backend, DataplaneBackend::kDpdk);
  ASSERT_EQ(d.addresses.size(), 2u);
  EXPECT_EQ(d.addresses[0].ToString(), "192.0.2.10");
  EXPECT_EQ(d.addresses[1].ToString(), "2001:db8::10");
  EXPECT_TRUE(d.addresses[1].is_v6());
  EXPECT_EQ(d.first_port, 20000);
  EXPECT_EQ(d.port_count, 1000);
  EXPECT_EQ(d.workers, 2u);
  EXPECT_EQ(d.cpus, (std::vector<int>{2, 3}));
  EXPECT_TRUE(d.busy_poll);
  EXPECT_EQ(d.stream_slots, 1024u);
  EXPECT_EQ(d.eal_args, (std::vector<std::string>{"-l", "0-2"}));

  const SipConfig& s = c->sip;
  ASSERT_EQ(s.listen_tls.size(), 2u);
  EXPECT_EQ(FormatHostPort(s.listen_tls[0]), "192.0.2.10:5061");
  EXPECT_EQ(FormatHostPort(s.listen_tls[1]), "[2001:db8::10]:5061");
  ASSERT_EQ(s.listen_tcp.size(), 1u);
  EXPECT_EQ(FormatHostPort(s.listen_tcp[0]), "192.0.2.10:5060");
  ASSERT_EQ(s.listen_udp.size(), 1u);
  EXPECT_EQ(FormatHostPort(s.listen_udp[0]), "0.0.0.0:5060");
  EXPECT_EQ(s.device_security_mode, DeviceSecurityMode::kEncryptedSdpKeys);
  EXPECT_FALSE(s.refuse_unknown_servers);
  ASSERT_EQ(s.servers.size(), 2u);
  EXPECT_EQ(s.servers[0].name, "cm1");
  EXPECT_EQ(s.servers[0].host.ToString(), "192.0.2.1");
  EXPECT_EQ(s.servers[0].port, 5070);
  EXPECT_EQ(s.servers[0].transport, SipTransport::kUdp);
  EXPECT_EQ(s.servers[0].subject, "cm1.example.com");
  EXPECT_EQ(s.servers[1].name, "cm2");
  EXPECT_EQ(s.servers[1].host.ToString(), "2001:db8::2");
  EXPECT_EQ(s.servers[1].port, 5060);  // the default for tcp
  EXPECT_EQ(s.servers[1].transport, SipTransport::kTcp);
  EXPECT_EQ(s.servers[1].subject, "");

  EXPECT_EQ(c->tls.lsc_key, "/etc/mpswitch/lsc.key");
  EXPECT_EQ(c->tls.lsc_cert, "/etc/mpswitch/lsc.pem");
  EXPECT_EQ(c->tls.lsc_chain, "/etc/mpswitch/chain.pem");
  EXPECT_EQ(c->tls.trust_dir, "/etc/mpswitch/trust");

  const MeetingsConfig& m = c->meetings;
  EXPECT_FALSE(m.refuse_unknown);
  ASSERT_EQ(m.static_meetings.size(), 2u);
  EXPECT_EQ(m.static_meetings[0].number, "+15550100");
  EXPECT_EQ(m.static_meetings[0].name, "Ops");
  EXPECT_EQ(m.static_meetings[0].policy, SecurityPolicy::kBestEffort);
  EXPECT_EQ(m.static_meetings[0].mode, SwitchingMode::kSite);
  EXPECT_EQ(m.static_meetings[0].capacity, 3u);
  EXPECT_TRUE(m.static_meetings[0].locked);
  EXPECT_EQ(m.static_meetings[1].number, "8002");
  EXPECT_EQ(m.static_meetings[1].name, "");
  EXPECT_EQ(m.static_meetings[1].policy, SecurityPolicy::kNonSecure);
  EXPECT_EQ(m.static_meetings[1].mode, SwitchingMode::kSegment);
  EXPECT_EQ(m.static_meetings[1].capacity, 48u);
  EXPECT_FALSE(m.static_meetings[1].locked);

  EXPECT_FALSE(c->admin.enabled);
  EXPECT_EQ(FormatHostPort(c->admin.listen), "[::1]:9443");
  EXPECT_EQ(c->logging.level, LogLevel::kDebug);
  EXPECT_EQ(c->logging.format, LogFormat::kJson);
  EXPECT_EQ(c->keylog.path, "/tmp/keys.log");
  EXPECT_EQ(c->state.dir, "/var/lib/mpswitch");
}

TEST(ConfigTest, InlineTablesAndDottedKeysAreTheSameConfig) {
  absl::StatusOr<Config> c = ParseConfig(Lines({
                                             "dataplane.workers = 4",
                                             "sip = { listen_tls = [], servers = [{ name = \"a\", "
                                             "host = \"::1\", subject = \"a\" }] }",
                                         }),
                                         "t.toml");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->dataplane.workers, 4u);
  EXPECT_TRUE(c->sip.listen_tls.empty());
  ASSERT_EQ(c->sip.servers.size(), 1u);
  EXPECT_EQ(c->sip.servers[0].host.ToString(), "::1");
  EXPECT_EQ(c->sip.servers[0].port, 5061);
}

TEST(ConfigTest, UnknownKeysAreErrorsWithASuggestion) {
  EXPECT_EQ(Problems(Lines({
                "[[sip.servers]]",
                "name = \"cucm0\"",
                "host = \"127.0.0.1\"",
                "transprot = \"tls\"",
                "subject = \"cucm0\"",
            })),
            std::vector<std::string>{
                "t.toml:4: sip.servers[0].transprot: unknown key (did you mean transport?)"});
  EXPECT_EQ(
      Problems(Lines({"[dataplan]", "workers = 2"})),
      std::vector<std::string>{"t.toml:1: dataplan: unknown section (did you mean dataplane?)"});
  // A key of another section, and one at the top level, name where it belongs.
  EXPECT_EQ(Problems(Lines({"[sip]", "first_port = 20000"})),
            std::vector<std::string>{
                "t.toml:2: sip.first_port: unknown key (did you mean dataplane.first_port?)"});
  EXPECT_EQ(
      Problems(Lines({"workers = 2"})),
      std::vector<std::string>{"t.toml:1: workers: unknown key (did you mean dataplane.workers?)"});
  EXPECT_EQ(Problems(Lines({"[dataplane]", "First_Port = 20000"})),
            std::vector<std::string>{
                "t.toml:2: dataplane.First_Port: unknown key (did you mean first_port?)"});
  EXPECT_EQ(Problems(Lines({"[state]", "foo = 1"})),
            std::vector<std::string>{"t.toml:2: state.foo: unknown key"});
  EXPECT_EQ(Problems(Lines({"[state]", "\"a b\" = 1"})),
            std::vector<std::string>{"t.toml:2: state.\"a b\": unknown key"});
}

TEST(ConfigTest, WrongTypes) {
  EXPECT_EQ(Problems(Lines({"[dataplane]", "workers = \"2\""})),
            std::vector<std::string>{"t.toml:2: dataplane.workers: expected an integer, got a "
                                     "string (write 2 without quotes)"});
  EXPECT_EQ(Problems(Lines({"[dataplane]", "busy_poll = 1"})),
            std::vector<std::string>{
                "t.toml:2: dataplane.busy_poll: expected a boolean, got an integer"});
  EXPECT_EQ(Problems(Lines({"[dataplane]", "first_port = 16384.0"})),
            std::vector<std::string>{"t.toml:2: dataplane.first_port: expected an integer, got a "
                                     "floating-point number"});
  EXPECT_EQ(Problems(Lines({"[dataplane]", "addresses = \"127.0.0.1\""})),
            std::vector<std::string>{"t.toml:2: dataplane.addresses: expected an array of "
                                     "strings, got a string (write [\"127.0.0.1\"])"});
  EXPECT_EQ(Problems(Lines({"[dataplane]", "addresses = [\"127.0.0.1\", 1]"})),
            std::vector<std::string>{
                "t.toml:2: dataplane.addresses[1]: expected a string, got an integer (write "
                "\"1\" in quotes)"});
  EXPECT_EQ(Problems(Lines({"[[meetings.static]]", "number = 8001"})),
            std::vector<std::string>{"t.toml:2: meetings.static[0].number: expected a string, got "
                                     "an integer (write \"8001\" in quotes)"});
  EXPECT_EQ(Problems(Lines({"dataplane = 3"})),
            std::vector<std::string>{"t.toml:1: dataplane: expected a table, got an integer"});
  EXPECT_EQ(Problems(Lines({"[sip.servers]", "name = \"a\""})),
            std::vector<std::string>{"t.toml:1: sip.servers: expected an array of tables, got a "
                                     "table (write [[sip.servers]] for each entry)"});
}

TEST(ConfigTest, OutOfRange) {
  EXPECT_EQ(Problems(Lines({"[dataplane]", "first_port = 70000"})),
            std::vector<std::string>{
                "t.toml:2: dataplane.first_port: 70000 is not a UDP port (1-65535)"});
  EXPECT_EQ(Problems(Lines({"[dataplane]", "workers = 0"})),
            std::vector<std::string>{"t.toml:2: dataplane.workers: 0 is out of range (1-1024)"});
  EXPECT_EQ(Problems(Lines({"[dataplane]", "stream_slots = -1"})),
            std::vector<std::string>{
                "t.toml:2: dataplane.stream_slots: -1 is out of range (1-16777216)"});
  // The default port_count from 60000 would run past the last port.
  EXPECT_EQ(Problems(Lines({"[dataplane]", "first_port = 60000"})),
            std::vector<std::string>{
                "t.toml:2: dataplane.first_port: 16384 ports from 60000 end at 76383, past 65535 "
                "(first_port + port_count must be at most 65536)"});
  EXPECT_EQ(Problems(Lines({"[dataplane]", "first_port = 60000", "port_count = 5537"})),
            std::vector<std::string>{
                "t.toml:3: dataplane.port_count: 5537 ports from 60000 end at 65536, past 65535 "
                "(first_port + port_count must be at most 65536)"});
  EXPECT_TRUE(Problems(Lines({"[dataplane]", "first_port = 60000", "port_count = 5536"})).empty());
  EXPECT_EQ(Problems(Lines({"[dataplane]", "workers = 2", "cpus = [1]"})),
            std::vector<std::string>{
                "t.toml:3: dataplane.cpus: 1 CPU for 2 workers (give one CPU per worker, or none "
                "to leave them unpinned)"});
  EXPECT_EQ(
      Problems(Lines({"[dataplane]", "cpus = [5000]"})),
      std::vector<std::string>{"t.toml:2: dataplane.cpus[0]: 5000 is not a CPU number (0-1023)"});
  std::string many = "[sip]\nlisten_tcp = [";
  for (int i = 1; i <= 65; ++i) many += "\"192.0.2.1:" + std::to_string(i) + "\", ";
  many += "]\n";
  EXPECT_EQ(Problems(many),
            std::vector<std::string>{"t.toml:2: sip.listen_tcp: 65 entries; at most 64"});
  EXPECT_EQ(Problems(Lines({"[[meetings.static]]", "number = \"1\"", "capacity = 0"})),
            std::vector<std::string>{
                "t.toml:3: meetings.static[0].capacity: 0 is out of range (1-1024)"});
}

TEST(ConfigTest, BadEnumValues) {
  EXPECT_EQ(Problems(Lines({"[[meetings.static]]", "number = \"8001\"", "policy = \"secur\""})),
            std::vector<std::string>{"t.toml:3: meetings.static[0].policy: \"secur\" is not one "
                                     "of secure, non-secure, best-effort"});
  EXPECT_EQ(Problems(Lines({"[sip]", "device_security_mode = \"tls\""})),
            std::vector<std::string>{"t.toml:2: sip.device_security_mode: \"tls\" is not one of "
                                     "non-secure, encrypted, encrypted-sdp-keys"});
  EXPECT_EQ(
      Problems(Lines({"[dataplane]", "backend = \"xdp\""})),
      std::vector<std::string>{"t.toml:2: dataplane.backend: \"xdp\" is not one of socket, dpdk"});
}

TEST(ConfigTest, BadAddresses) {
  EXPECT_EQ(
      Problems(Lines({"[dataplane]",
                      "addresses = [\"127.0.0.1\", \"localhost\", \"0.0.0.0\", \"127.0.0.1\"]"})),
      (std::vector<std::string>{
          "t.toml:2: dataplane.addresses[1]: \"localhost\" is not an IPv4 or IPv6 address (host "
          "names are not resolved)",
          "t.toml:2: dataplane.addresses[2]: \"0.0.0.0\" is the unspecified address; name the "
          "address endpoints send media to",
          "t.toml:2: dataplane.addresses[3]: \"127.0.0.1\" is also dataplane.addresses[0]",
      }));
  EXPECT_EQ(
      Problems(Lines({"[dataplane]", "addresses = []"})),
      std::vector<std::string>{
          "t.toml:2: dataplane.addresses: empty; the switch needs at least one media address"});
  EXPECT_EQ(
      Problems(Lines({"[sip]",
                      "listen_tls = [\"127.0.0.1\", \"localhost:5061\", "
                      "\"127.0.0.1:70000\", \"::1:5061\", \"[::1]:5061\"]"})),
      (std::vector<std::string>{
          "t.toml:2: sip.listen_tls[0]: \"127.0.0.1\" has no port (write address:port, or "
          "[address]:port for IPv6)",
          "t.toml:2: sip.listen_tls[1]: \"localhost:5061\" has host \"localhost\", not an IPv4 or "
          "IPv6 address (host names are not resolved)",
          "t.toml:2: sip.listen_tls[2]: \"127.0.0.1:70000\" has port 70000, outside 1-65535",
          "t.toml:2: sip.listen_tls[3]: \"::1:5061\" is not address:port (write an IPv6 address "
          "in brackets, as [address]:port)",
      }));
  EXPECT_EQ(
      Problems(Lines(
          {"[[sip.servers]]", "name = \"cm\"", "host = \"cucm.example.com\"", "subject = \"cm\""})),
      std::vector<std::string>{"t.toml:3: sip.servers[0].host: \"cucm.example.com\" is not an "
                               "IPv4 or IPv6 address (host names are not resolved)"});
}

TEST(ConfigTest, ListenersThatCannotAllBind) {
  // The default TLS listener takes part.
  EXPECT_EQ(Problems(Lines({"[sip]", "listen_tcp = [\"127.0.0.1:5061\"]"})),
            std::vector<std::string>{"t.toml:2: sip.listen_tcp[0]: 127.0.0.1:5061 is also "
                                     "sip.listen_tls[0] (by default)"});
  EXPECT_EQ(Problems(Lines({"[admin]", "listen = \"0.0.0.0:5061\""})),
            std::vector<std::string>{"t.toml:2: admin.listen: 0.0.0.0:5061 overlaps "
                                     "sip.listen_tls[0] = 127.0.0.1:5061 (by default)"});
  EXPECT_TRUE(Problems(Lines({"[admin]", "enabled = false", "listen = \"0.0.0.0:5061\""})).empty());
  EXPECT_EQ(Problems(Lines({"[sip]", "listen_udp = [\"127.0.0.1:20000\"]"})),
            std::vector<std::string>{"t.toml:2: sip.listen_udp[0]: 127.0.0.1:20000 is one of the "
                                     "media ports (dataplane: 16384-32767)"});
  EXPECT_TRUE(Problems(Lines({"[sip]", "listen_udp = [\"127.0.0.2:20000\"]"})).empty());
}

TEST(ConfigTest, Duplicates) {
  EXPECT_EQ(Problems(Lines({
                "[[meetings.static]]",
                "number = \"8001\"",
                "",
                "[[meetings.static]]",
                "number = \"8001\"",
            })),
            std::vector<std::string>{"t.toml:5: meetings.static[1].number: \"8001\" is also the "
                                     "number of meetings.static[0] (line 2)"});
  EXPECT_EQ(Problems(Lines({
                "[[sip.servers]]",
                "name = \"cm\"",
                "host = \"192.0.2.1\"",
                "subject = \"a\"",
                "[[sip.servers]]",
                "name = \"cm\"",
                "host = \"192.0.2.2\"",
                "subject = \"b\"",
            })),
            std::vector<std::string>{"t.toml:6: sip.servers[1].name: \"cm\" is also the name of "
                                     "sip.servers[0] (line 2)"});
}

TEST(ConfigTest, AtMostFiveServers) {
  std::string text;
  for (int i = 0; i < 6; ++i) {
    text += "[[sip.servers]]\n";
    text += "name = \"cm" + std::to_string(i) + "\"\n";
    text += "host = \"192.0.2." + std::to_string(i + 1) + "\"\n";
    text += "subject = \"cm" + std::to_string(i) + "\"\n";
  }
  // Said where the sixth begins.
  EXPECT_EQ(Problems(text),
            std::vector<std::string>{"t.toml:21: sip.servers: 6 servers; at most 5 (CM1..CM5)"});
}

TEST(ConfigTest, MissingRequiredValuesAreReportedAtTheirTable) {
  EXPECT_EQ(Problems(Lines({"[sip]", "[[sip.servers]]", "name = \"cm\""})),
            (std::vector<std::string>{
                "t.toml:2: sip.servers[0].host: missing; every [[sip.servers]] entry needs one",
                "t.toml:2: sip.servers[0].subject: missing; a tls server must name the X.509 "
                "subject (CN or SAN) its certificate presents",
            }));
  // No subject needed over tcp.
  EXPECT_TRUE(Problems(Lines({"[[sip.servers]]", "name = \"cm\"", "host = \"192.0.2.1\"",
                              "transport = \"tcp\""}))
                  .empty());
  EXPECT_EQ(Problems(Lines({"[meetings]", "", "[[meetings.static]]", "name = \"x\""})),
            std::vector<std::string>{
                "t.toml:3: meetings.static[0].number: missing; every [[meetings.static]] entry "
                "needs one"});
}

TEST(ConfigTest, OtherChecks) {
  EXPECT_EQ(Problems(Lines({"[tls]", "lsc_key = \"/k.pem\""})),
            std::vector<std::string>{
                "t.toml:2: tls.lsc_key: set, but tls.lsc_cert is empty (give the LSC key and its "
                "certificate together, or neither for the development PKI)"});
  EXPECT_EQ(Problems(Lines({"[dataplane]", "eal_args = [\"-l\", \"0\"]"})),
            std::vector<std::string>{"t.toml:2: dataplane.eal_args: given, but backend is "
                                     "\"socket\" (EAL arguments apply to the dpdk backend only)"});
  EXPECT_EQ(
      Problems(Lines({"[state]", "dir = \"a\\u0000b\""})),
      std::vector<std::string>{"t.toml:2: state.dir: \"a\\u0000b\" contains a NUL character"});
  EXPECT_EQ(Problems(Lines({"[[meetings.static]]", "number = \"80 01\""})),
            std::vector<std::string>{
                "t.toml:2: meetings.static[0].number: \"80 01\" is not a meeting number (1-64 "
                "digits, letters, '+', '*', '.', '-', '_')"});
}

TEST(ConfigTest, SyntaxErrorNamesItsLine) {
  const std::vector<ConfigProblem> problems =
      CheckConfig(Lines({"[dataplane]", "workers = 2", "busy_poll = yes"}), "t.toml");
  ASSERT_EQ(problems.size(), 1u);
  EXPECT_EQ(problems[0].line, 3u);
  EXPECT_EQ(problems[0].key, "");
  EXPECT_EQ(problems[0].ToString().rfind("t.toml:3: not valid TOML: ", 0), 0u)
      << problems[0].ToString();
  // A key defined twice is a TOML error too.
  const std::vector<ConfigProblem> twice =
      CheckConfig(Lines({"[dataplane]", "workers = 2", "workers = 3"}), "t.toml");
  ASSERT_EQ(twice.size(), 1u);
  EXPECT_EQ(twice[0].line, 3u) << twice[0].ToString();
}

TEST(ConfigTest, EveryProblemAtOnceInLineOrder) {
  const std::string text = Lines({
      "[logging]",
      "level = \"loud\"",
      "",
      "[dataplane]",
      "first_port = 0",
      "workerz = 2",
      "",
      "[admin]",
      "listen = \"127.0.0.1\"",
  });
  const std::vector<std::string> expected = {
      "t.toml:2: logging.level: \"loud\" is not one of debug, info, warning, error",
      "t.toml:5: dataplane.first_port: 0 is not a UDP port (1-65535)",
      "t.toml:6: dataplane.workerz: unknown key (did you mean workers?)",
      "t.toml:9: admin.listen: \"127.0.0.1\" has no port (write address:port, or [address]:port "
      "for IPv6)",
  };
  EXPECT_EQ(Problems(text), expected);
  absl::StatusOr<Config> c = ParseConfig(text, "t.toml");
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(c.status().message(),
            expected[0] + "\n" + expected[1] + "\n" + expected[2] + "\n" + expected[3]);
  EXPECT_EQ(c.status().message(), FormatConfigProblems(CheckConfig(text, "t.toml")));
}

TEST(ConfigTest, ProblemFormats) {
  EXPECT_EQ((ConfigProblem{"f.toml", 12, "a.b", "bad"}).ToString(), "f.toml:12: a.b: bad");
  EXPECT_EQ((ConfigProblem{"f.toml", 3, "", "not valid TOML: x"}).ToString(),
            "f.toml:3: not valid TOML: x");
  EXPECT_EQ((ConfigProblem{"f.toml", 0, "", "too big"}).ToString(), "f.toml: too big");
  EXPECT_EQ(FormatConfigProblems({}), "");
}

TEST(ConfigTest, HostPort) {
  for (const std::string_view text :
       {"127.0.0.1:5061", "[2001:db8::1]:5061", "0.0.0.0:1", "[::]:65535"}) {
    absl::StatusOr<HostPort> hp = ParseHostPort(text);
    ASSERT_TRUE(hp.ok()) << hp.status();
    EXPECT_EQ(FormatHostPort(*hp), text);
  }
  for (const std::string_view text :
       {"", "127.0.0.1", "127.0.0.1:", "127.0.0.1:0", "127.0.0.1:http", "[127.0.0.1]:5061",
        "[::1]5061", "[::1", "::1:5061", "host:5061", "127.0.0.1:99999999999999999999"}) {
    absl::StatusOr<HostPort> hp = ParseHostPort(text);
    EXPECT_FALSE(hp.ok()) << text;
    EXPECT_EQ(hp.status().message().rfind("\"", 0), 0u) << hp.status();
  }
}

TEST(ConfigTest, LoadConfig) {
  const std::filesystem::path dir =
      std::filesystem::temp_directory_path() / ("mpswitch_config_test_" + std::to_string(getpid()));
  std::filesystem::create_directories(dir);

  absl::StatusOr<Config> missing = LoadConfig((dir / "absent.toml").string());
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound) << missing.status();
  EXPECT_NE(missing.status().message().find("absent.toml"), std::string::npos);

  const std::string big = (dir / "big.toml").string();
  {
    std::ofstream f(big, std::ios::binary);
    f << std::string(kMaxConfigFileBytes + 1, '#');
  }
  absl::StatusOr<Config> too_big = LoadConfig(big);
  EXPECT_EQ(too_big.status().code(), absl::StatusCode::kInvalidArgument) << too_big.status();
  EXPECT_NE(too_big.status().message().find("1 MiB"), std::string::npos) << too_big.status();

  const std::string bad = (dir / "bad.toml").string();
  {
    std::ofstream f(bad, std::ios::binary);
    f << "[dataplane]\nworkers = 0\n";
  }
  absl::StatusOr<Config> with_problems = LoadConfig(bad);
  EXPECT_EQ(with_problems.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(with_problems.status().message(),
            bad + ":2: dataplane.workers: 0 is out of range (1-1024)");

  absl::StatusOr<Config> directory = LoadConfig(dir.string());
  EXPECT_EQ(directory.status().code(), absl::StatusCode::kFailedPrecondition) << directory.status();

  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace mpswitch::control
