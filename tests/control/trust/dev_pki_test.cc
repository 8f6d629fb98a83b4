#include "mpswitch/control/trust/dev_pki.h"

#include <dirent.h>
#include <gtest/gtest.h>
#include <limits.h>
#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "mpswitch/control/trust/lsc.h"
#include "mpswitch/control/trust/trust_store.h"
#include "trust_test_support.h"

namespace mpswitch::control::trust {
namespace {

namespace fs = std::filesystem;
using namespace support;

X509Ptr LoadCert(const std::string& path) {
  auto certs = ParsePemCertificates(Slurp(path), path);
  EXPECT_TRUE(certs.ok()) << certs.status();
  if (!certs.ok() || certs->size() != 1) {
    ADD_FAILURE() << path << " does not hold exactly one certificate";
    return nullptr;
  }
  return std::move(certs->front());
}

// X509_verify_cert of `leaf` against `store`, with `untrusted` intermediates.
std::string VerifyError(X509_STORE* store, X509* leaf, const std::vector<X509*>& untrusted = {}) {
  STACK_OF(X509)* chain = sk_X509_new_null();
  for (X509* c : untrusted) sk_X509_push(chain, c);
  X509_STORE_CTX* ctx = X509_STORE_CTX_new();
  X509_STORE_CTX_init(ctx, store, leaf, chain);
  std::string error;
  if (X509_verify_cert(ctx) != 1) {
    error = X509_verify_cert_error_string(X509_STORE_CTX_get_error(ctx));
  }
  X509_STORE_CTX_free(ctx);
  sk_X509_free(chain);
  return error;
}

mode_t ModeOf(const std::string& path) {
  struct stat st {};
  EXPECT_EQ(::stat(path.c_str(), &st), 0) << path;
  return st.st_mode & 0777;
}

class DevPkiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = ::testing::TempDir() + "mpswitch_dev_pki_" + std::to_string(::getpid()) + "_" +
           ::testing::UnitTest::GetInstance()->current_test_info()->name();
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  // The directory as the generated configuration names it (absolute, links resolved).
  std::string Resolved() const {
    char buf[PATH_MAX];
    EXPECT_NE(::realpath(dir_.c_str(), buf), nullptr);
    return buf;
  }
  std::string P(const std::string& name) const { return dir_ + "/" + name; }

  std::string dir_;
};

TEST_F(DevPkiTest, MakesEverythingTheSwitchNeedsOnLoopback) {
  ASSERT_TRUE(InitDevelopmentPki(dir_).ok());
  EXPECT_TRUE(DevelopmentPkiComplete(dir_));

  // Files and modes.
  std::vector<std::string> keys = {"capf-ca.key", "lsc.key"};
  std::vector<std::string> certs = {"capf-ca.pem", "lsc.pem", "lsc-chain.pem", "mpswitch.toml"};
  for (int n = 0; n < 5; ++n) {
    keys.push_back(absl::StrFormat("cucm%d.key", n));
    certs.push_back(absl::StrFormat("cucm%d.pem", n));
  }
  for (const std::string& k : keys) {
    ASSERT_TRUE(fs::is_regular_file(P(k))) << k;
    EXPECT_EQ(ModeOf(P(k)), 0600u) << k;
  }
  for (const std::string& c : certs) {
    ASSERT_TRUE(fs::is_regular_file(P(c))) << c;
    EXPECT_EQ(ModeOf(P(c)), 0644u) << c;
  }
  EXPECT_TRUE(fs::is_directory(P("trust/CAPF-trust")));
  EXPECT_TRUE(fs::is_directory(P("trust/CTM-trust")));
  EXPECT_TRUE(fs::exists(P("dev-pki.complete")));
  EXPECT_FALSE(fs::exists(P("dev-pki.partial")));
  for (const std::string& e : Entries(dir_)) {
    EXPECT_FALSE(absl::StartsWith(e, ".dev-pki-new.")) << "temporary directory left: " << e;
  }

  // The CA: self-signed, CA:TRUE, keyCertSign, ten years, ECDSA P-256.
  X509Ptr ca = LoadCert(P("capf-ca.pem"));
  ASSERT_TRUE(ca);
  EXPECT_EQ(X509_check_issued(ca.get(), ca.get()), X509_V_OK);
  EXPECT_NE(X509_check_ca(ca.get()), 0);
  EXPECT_NE(X509_get_key_usage(ca.get()) & KU_KEY_CERT_SIGN, 0u);
  EXPECT_GT(Asn1TimeToTime(X509_get0_notAfter(ca.get())), absl::Now() + absl::Hours(24 * 3649));
  EXPECT_TRUE(EVP_PKEY_is_a(X509_get0_pubkey(ca.get()), "EC"));
  EXPECT_EQ(EVP_PKEY_get_bits(X509_get0_pubkey(ca.get())), 256);
  auto ca_key = PrivateKeyFromPem(Slurp(P("capf-ca.key")), "capf-ca.key");
  ASSERT_TRUE(ca_key.ok()) << ca_key.status();
  EXPECT_EQ(X509_check_private_key(ca.get(), ca_key->get()), 1);

  X509StorePtr ca_store(X509_STORE_new());
  ASSERT_EQ(X509_STORE_add_cert(ca_store.get(), ca.get()), 1);

  // Each cucm node: issued by the CA, for its name and 127.0.0.1, server and client auth.
  for (int n = 0; n < 5; ++n) {
    const std::string name = absl::StrFormat("cucm%d", n);
    X509Ptr cert = LoadCert(P(name + ".pem"));
    ASSERT_TRUE(cert) << name;
    EXPECT_EQ(VerifyError(ca_store.get(), cert.get()), "") << name;
    EXPECT_EQ(CommonName(X509_get_subject_name(cert.get())), name);
    EXPECT_EQ(X509_check_host(cert.get(), name.c_str(), 0, 0, nullptr), 1) << name;
    EXPECT_EQ(X509_check_ip_asc(cert.get(), "127.0.0.1", 0), 1) << name;
    EXPECT_EQ(X509_get_extended_key_usage(cert.get()) & (XKU_SSL_SERVER | XKU_SSL_CLIENT),
              static_cast<uint32_t>(XKU_SSL_SERVER | XKU_SSL_CLIENT))
        << name;
    auto key = PrivateKeyFromPem(Slurp(P(name + ".key")), name);
    ASSERT_TRUE(key.ok()) << key.status();
    EXPECT_EQ(X509_check_private_key(cert.get(), key->get()), 1) << name;
  }

  // The trust units, through TrustStore.
  auto trust = TrustStore::Open(P("trust"));
  ASSERT_TRUE(trust.ok()) << trust.status();
  auto capf_rows = trust->List(TrustUnit::kCapfTrust);
  ASSERT_TRUE(capf_rows.ok()) << capf_rows.status();
  ASSERT_EQ(capf_rows->size(), 1u);
  EXPECT_EQ((*capf_rows)[0].sha256_fingerprint, CertificateFingerprint(ca.get(), EVP_sha256()));
  auto ctm_rows = trust->List(TrustUnit::kCtmTrust);
  ASSERT_TRUE(ctm_rows.ok()) << ctm_rows.status();
  ASSERT_EQ(ctm_rows->size(), 5u);
  std::set<std::string> subjects;
  for (const CertificateRow& r : *ctm_rows) subjects.insert(r.subject);
  EXPECT_EQ(subjects,
            (std::set<std::string>{"CN=cucm0", "CN=cucm1", "CN=cucm2", "CN=cucm3", "CN=cucm4"}));

  // The LSC verifies against CAPF-trust and is for the switch's names.
  X509Ptr lsc = LoadCert(P("lsc.pem"));
  ASSERT_TRUE(lsc);
  X509Ptr chain = LoadCert(P("lsc-chain.pem"));
  ASSERT_TRUE(chain);
  auto capf_store = trust->StoreFor({TrustUnit::kCapfTrust});
  ASSERT_TRUE(capf_store.ok()) << capf_store.status();
  EXPECT_EQ(VerifyError(capf_store->get(), lsc.get(), {chain.get()}), "");
  EXPECT_EQ(X509_check_host(lsc.get(), "mpswitch", 0, 0, nullptr), 1);
  EXPECT_EQ(X509_check_host(lsc.get(), "localhost", 0, 0, nullptr), 1);
  EXPECT_EQ(X509_check_ip_asc(lsc.get(), "127.0.0.1", 0), 1);
  EXPECT_EQ(X509_check_ip_asc(lsc.get(), "::1", 0), 1);
  EXPECT_EQ(X509_get_extended_key_usage(lsc.get()) & (XKU_SSL_SERVER | XKU_SSL_CLIENT),
            static_cast<uint32_t>(XKU_SSL_SERVER | XKU_SSL_CLIENT));
  auto shown = Lsc(dir_).Show();
  ASSERT_TRUE(shown.ok()) << shown.status();
  EXPECT_EQ(shown->x509_subject_name, "mpswitch");
  EXPECT_EQ(shown->subject, "CN=mpswitch");
  EXPECT_TRUE(shown->key_matches);
  EXPECT_EQ(shown->chain_certificates, 1u);
  EXPECT_FALSE(shown->expires_soon);

  // The configuration names all of it (checked loosely: the real parser is written elsewhere).
  const std::string toml = Slurp(P("mpswitch.toml"));
  const std::string abs = Resolved();
  const std::vector<std::string> lines = {
      "[tls]",
      "lsc_key = \"" + abs + "/lsc.key\"",
      "lsc_cert = \"" + abs + "/lsc.pem\"",
      "lsc_chain = \"" + abs + "/lsc-chain.pem\"",
      "trust_dir = \"" + abs + "/trust\"",
      "[sip]",
      "listen_tls = [\"127.0.0.1:5061\"]",
      "device_security_mode = \"encrypted\"",
      "[state]",
      "dir = \"" + abs + "\"",
  };
  for (const std::string& line : lines) {
    EXPECT_NE(toml.find("\n" + line + "\n"), std::string::npos) << "missing: " << line << "\n"
                                                                << toml;
  }
  size_t servers = 0;
  for (size_t at = toml.find("[[sip.servers]]"); at != std::string::npos;
       at = toml.find("[[sip.servers]]", at + 1)) {
    ++servers;
  }
  EXPECT_EQ(servers, 5u);
  for (int n = 0; n < 5; ++n) {
    const std::string block = absl::StrFormat(
        "[[sip.servers]]\nname = \"cucm%d\"\nhost = \"127.0.0.1\"\nport = %d\n"
        "transport = \"tls\"\nsubject = \"cucm%d\"\n",
        n, 5080 + n, n);
    EXPECT_NE(toml.find(block), std::string::npos) << block;
  }
  EXPECT_NE(toml.find("5080..5084"), std::string::npos);  // the comment on the ports
}

TEST_F(DevPkiTest, RefusesToOverwriteUnlessForced) {
  ASSERT_TRUE(InitDevelopmentPki(dir_).ok());
  const std::string ca_before = Slurp(P("capf-ca.pem"));
  const std::string key_before = Slurp(P("lsc.key"));
  const absl::Status again = InitDevelopmentPki(dir_);
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.code(), absl::StatusCode::kAlreadyExists);
  EXPECT_NE(again.message().find("--force"), std::string::npos) << again;
  EXPECT_EQ(Slurp(P("capf-ca.pem")), ca_before);
  EXPECT_EQ(Slurp(P("lsc.key")), key_before);
  EXPECT_TRUE(DevelopmentPkiComplete(dir_));

  DevPkiOptions force;
  force.force = true;
  ASSERT_TRUE(InitDevelopmentPki(dir_, force).ok());
  EXPECT_NE(Slurp(P("capf-ca.pem")), ca_before);
  EXPECT_NE(Slurp(P("lsc.key")), key_before);
  EXPECT_TRUE(DevelopmentPkiComplete(dir_));
  // The trust units were replaced, not added to.
  auto trust = TrustStore::Open(P("trust"));
  ASSERT_TRUE(trust.ok());
  auto rows = trust->List();
  ASSERT_TRUE(rows.ok()) << rows.status();
  EXPECT_EQ(rows->size(), 6u);
}

TEST_F(DevPkiTest, RefusesFilesItDidNotMake) {
  fs::create_directories(dir_);
  {
    std::ofstream f(P("lsc.key"));
    f << "an operator's key\n";
  }
  const absl::Status s = InitDevelopmentPki(dir_);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.code(), absl::StatusCode::kAlreadyExists);
  EXPECT_NE(s.message().find("lsc.key"), std::string::npos) << s;
  EXPECT_EQ(Slurp(P("lsc.key")), "an operator's key\n");
  EXPECT_EQ(Entries(dir_), std::set<std::string>{"lsc.key"});
}

TEST_F(DevPkiTest, AFailureBeforeTheRenamesLeavesNothing) {
  DevPkiOptions options;
  options.fault_for_test = [](std::string_view step) {
    return step == "generated" ? absl::ResourceExhaustedError("disk full (simulated)")
                               : absl::OkStatus();
  };
  const absl::Status s = InitDevelopmentPki(dir_, options);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("simulated"), std::string::npos) << s;
  EXPECT_TRUE(Entries(dir_).empty()) << "left behind: " << *Entries(dir_).begin();
  EXPECT_FALSE(DevelopmentPkiComplete(dir_));
  // A later run starts from scratch without --force.
  ASSERT_TRUE(InitDevelopmentPki(dir_).ok());
  EXPECT_TRUE(DevelopmentPkiComplete(dir_));
}

TEST_F(DevPkiTest, AFailureMidwayIsNeverTakenForAComplete) {
  DevPkiOptions options;
  options.fault_for_test = [](std::string_view step) {
    return step == "moved:lsc.pem" ? absl::InternalError("crash (simulated)") : absl::OkStatus();
  };
  const absl::Status s = InitDevelopmentPki(dir_, options);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("incomplete"), std::string::npos) << s;
  EXPECT_NE(s.message().find("mpswitch pki init"), std::string::npos) << s;
  // Some credential files made it, but nothing says complete.
  EXPECT_TRUE(fs::exists(P("lsc.key")));
  EXPECT_FALSE(fs::exists(P("mpswitch.toml")));
  EXPECT_TRUE(fs::exists(P("dev-pki.partial")));
  EXPECT_FALSE(fs::exists(P("dev-pki.complete")));
  EXPECT_FALSE(DevelopmentPkiComplete(dir_));
  for (const std::string& e : Entries(dir_)) {
    EXPECT_FALSE(absl::StartsWith(e, ".dev-pki-new.")) << "temporary directory left: " << e;
  }

  // Also after a forced run over a complete PKI fails midway.
  ASSERT_TRUE(InitDevelopmentPki(dir_).ok());  // the leftovers are replaced without --force
  EXPECT_TRUE(DevelopmentPkiComplete(dir_));
  options.force = true;
  ASSERT_FALSE(InitDevelopmentPki(dir_, options).ok());
  EXPECT_FALSE(DevelopmentPkiComplete(dir_));
  EXPECT_FALSE(fs::exists(P("dev-pki.complete")));
  ASSERT_TRUE(InitDevelopmentPki(dir_).ok());
  EXPECT_TRUE(DevelopmentPkiComplete(dir_));
  auto shown = Lsc(dir_).Show();
  ASSERT_TRUE(shown.ok()) << shown.status();
  EXPECT_TRUE(shown->key_matches);
}

}  // namespace
}  // namespace mpswitch::control::trust
