// The operator commands, run as an operator runs them: the mpswitch binary in a temp directory,
// its exit status and what it prints.
#include <gtest/gtest.h>
#include <openssl/pem.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

#include "ctl_builder.h"

namespace {

namespace fs = std::filesystem;
namespace b = ::mpswitch::testing::ctl;

struct Result {
  int status = -1;
  std::string out;  // stdout and stderr
};

Result Mpswitch(const std::string& args) {
  Result r;
  const std::string cmd = std::string(MPSWITCH_BIN) + " " + args + " 2>&1";
  FILE* p = ::popen(cmd.c_str(), "r");
  if (p == nullptr) return r;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof(buf), p)) > 0) r.out.append(buf, n);
  const int st = ::pclose(p);
  r.status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  return r;
}

void Write(const fs::path& p, const std::string& bytes) {
  std::ofstream(p, std::ios::binary) << bytes;
}

std::string Pem(X509* x) {
  BIO* bio = BIO_new(BIO_s_mem());
  PEM_write_bio_X509(bio, x);
  char* data = nullptr;
  const long n = BIO_get_mem_data(bio, &data);
  std::string s(data, static_cast<size_t>(n));
  BIO_free(bio);
  return s;
}

class MpswitchCliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::path(::testing::TempDir()) / ("mpswitch_cli_" + std::to_string(::getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  fs::path dir_;
};

TEST_F(MpswitchCliTest, DevelopmentPkiGivesAConfigurationThatChecksAndTrustUnitsThatList) {
  const fs::path pki = dir_ / "pki";
  Result r = Mpswitch("pki init " + pki.string());
  ASSERT_EQ(r.status, 0) << r.out;
  EXPECT_EQ(Mpswitch("pki init " + pki.string()).status, 1) << "an existing PKI is not overwritten";
  EXPECT_EQ(Mpswitch("pki init " + pki.string() + " --force").status, 0);

  const std::string config = (pki / "mpswitch.toml").string();
  r = Mpswitch("check-config " + config);
  EXPECT_EQ(r.status, 0) << r.out;
  EXPECT_NE(r.out.find("no problems"), std::string::npos) << r.out;

  r = Mpswitch("cert list --config " + config);
  ASSERT_EQ(r.status, 0) << r.out;
  EXPECT_NE(r.out.find("CAPF-trust"), std::string::npos) << r.out;
  for (int i = 0; i < 5; ++i) {
    EXPECT_NE(r.out.find("cucm" + std::to_string(i)), std::string::npos) << r.out;
  }

  r = Mpswitch("lsc show --config " + config);
  ASSERT_EQ(r.status, 0) << r.out;
  EXPECT_NE(r.out.find("X.509 Subject Name"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("mpswitch"), std::string::npos) << r.out;
}

TEST_F(MpswitchCliTest, CheckConfigReportsEveryProblemWithItsLine) {
  const fs::path bad = dir_ / "bad.toml";
  Write(bad, "[dataplane]\nfirst_port = 70000\n[sip]\nlisten_tsl = []\n");
  const Result r = Mpswitch("check-config " + bad.string());
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.out.find(bad.string() + ":2: dataplane.first_port:"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find(bad.string() + ":4: sip.listen_tsl: unknown key"), std::string::npos)
      << r.out;
  EXPECT_EQ(Mpswitch("check-config " + (dir_ / "missing.toml").string()).status, 1);
  EXPECT_EQ(Mpswitch("no-such-command").status, 2);
}

TEST_F(MpswitchCliTest, LscRequestWritesAKeyAndACsr) {
  const Result r = Mpswitch("lsc request --subject 'CN=mpswitch-1,O=Example' --state " +
                       (dir_ / "state").string());
  ASSERT_EQ(r.status, 0) << r.out;
  EXPECT_NE(r.out.find("BEGIN CERTIFICATE REQUEST"), std::string::npos) << r.out;
  EXPECT_EQ(Mpswitch("lsc request --subject 'nonsense' --state " + (dir_ / "s2").string()).status, 1);
}

TEST_F(MpswitchCliTest, CtlShowVerifiesAndImportFillsTheTrustUnits) {
  const b::Cluster c = b::MakeCluster();
  const b::BuiltFile f = b::BuildCtl(c, c.sast1);
  const fs::path ctl = dir_ / "CTLFile.tlv";
  Write(ctl, std::string(f.bytes.begin(), f.bytes.end()));
  const fs::path signer = dir_ / "sast1.pem";
  Write(signer, Pem(c.sast1.cert.get()));
  const std::string trust = " --trust " + (dir_ / "trust").string();

  Result r = Mpswitch("ctl show " + ctl.string() + " --signer " + signer.string() + trust);
  EXPECT_EQ(r.status, 0) << r.out;
  EXPECT_NE(r.out.find("CAPF"), std::string::npos) << r.out;

  // Nothing trusted yet and no signer given: printed, but not verified.
  r = Mpswitch("ctl show " + ctl.string() + trust);
  EXPECT_EQ(r.status, 1) << r.out;

  std::string tampered(f.bytes.begin(), f.bytes.end());
  tampered[tampered.size() - 20] ^= 1;
  const fs::path bad = dir_ / "tampered.tlv";
  Write(bad, tampered);
  r = Mpswitch("ctl show " + bad.string() + " --signer " + signer.string() + trust);
  EXPECT_EQ(r.status, 1) << r.out;
  r = Mpswitch("ctl import " + bad.string() + " --signer " + signer.string() + trust);
  EXPECT_EQ(r.status, 1) << r.out;
  EXPECT_FALSE(fs::exists(dir_ / "trust" / "CTM-trust")) << "a refused file imports nothing";

  r = Mpswitch("ctl import " + ctl.string() + " --signer " + signer.string() + trust);
  ASSERT_EQ(r.status, 0) << r.out;
  r = Mpswitch("cert list" + trust);
  ASSERT_EQ(r.status, 0) << r.out;
  EXPECT_NE(r.out.find("cucm-pub"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("CAPF-9c4cba7d"), std::string::npos) << r.out;
}

}  // namespace
