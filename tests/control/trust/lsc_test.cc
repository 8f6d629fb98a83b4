#include "mpswitch/control/trust/lsc.h"

#include <dirent.h>
#include <gtest/gtest.h>
#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/obj_mac.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <utility>

#include "absl/strings/match.h"
#include "mpswitch/control/trust/dev_pki.h"
#include "mpswitch/control/trust/trust_store.h"
#include "trust_test_support.h"

namespace mpswitch::control::trust {
namespace {

namespace fs = std::filesystem;
using namespace support;


struct ReqDeleter {
  void operator()(X509_REQ* r) const { X509_REQ_free(r); }
};
using ReqPtr = std::unique_ptr<X509_REQ, ReqDeleter>;

ReqPtr ReadCsr(const std::string& pem) {
  BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
  X509_REQ* req = PEM_read_bio_X509_REQ(bio, nullptr, nullptr, nullptr);
  BIO_free(bio);
  return ReqPtr(req);
}

// Runs a shell command, returns its exit status (-1 if it did not exit) and its output.
std::pair<int, std::string> Run(const std::string& command) {
  std::string out;
  FILE* p = ::popen((command + " 2>&1").c_str(), "r");
  if (p == nullptr) return {-1, "popen failed"};
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  const int status = ::pclose(p);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, out};
}

// The check the issue asks for: `openssl req -verify` accepts the CSR.
void ExpectOpensslVerifies(const std::string& csr_path) {
  const auto [code, out] = Run("openssl req -verify -noout -in '" + csr_path + "'");
  ASSERT_NE(code, 127) << "the openssl command is missing: install Debian's openssl package "
                          "(scripts/setup.sh does)";
  EXPECT_EQ(code, 0) << out;
  EXPECT_NE(out.find("verify OK"), std::string::npos) << out;
}

mode_t ModeOf(const std::string& path) {
  struct stat st {};
  EXPECT_EQ(::stat(path.c_str(), &st), 0) << path;
  return st.st_mode & 0777;
}

size_t VersionDirs(const std::string& dir) {
  size_t n = 0;
  if (DIR* d = ::opendir(dir.c_str())) {
    while (const dirent* e = ::readdir(d)) n += absl::StartsWith(e->d_name, "lsc.v.");
    ::closedir(d);
  }
  return n;
}

class LscTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = ::testing::TempDir() + "mpswitch_lsc_" + std::to_string(::getpid()) + "_" +
           ::testing::UnitTest::GetInstance()->current_test_info()->name();
    std::error_code ec;
    fs::remove_all(dir_, ec);
    auto store = TrustStore::Open(dir_ + "/trust", /*create=*/true);
    ASSERT_TRUE(store.ok()) << store.status();
    trust_.emplace(*std::move(store));
    capf_ = MakeCa("CN=CAPF-test,O=Example");
    ASSERT_TRUE(
        trust_->Upload(TrustUnit::kCapfTrust, CertificateToPem(capf_.cert.get()), "CAPF.pem").ok());
    lsc_.emplace(dir_);
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }

  // A certificate for the public key of the pending CSR, issued by `issuer`.
  X509Ptr IssueForCsr(const Credential& issuer, absl::Duration valid_for = absl::Hours(24 * 400),
                      const std::string& subject = "CN=mpswitch-1,O=Example,OU=Video") {
    ReqPtr req = ReadCsr(Slurp(lsc_->CsrPath()));
    EXPECT_TRUE(req);
    if (!req) return nullptr;
    CertificateSpec spec;
    spec.subject = subject;
    spec.server_auth = spec.client_auth = true;
    spec.valid_for = valid_for;
    auto cert = IssueCertificate(spec, X509_REQ_get0_pubkey(req.get()), issuer.cert.get(),
                                 issuer.key.get());
    EXPECT_TRUE(cert.ok()) << cert.status();
    if (!cert.ok()) return nullptr;
    return std::move(*cert);
  }

  std::string dir_;
  std::optional<TrustStore> trust_;
  std::optional<Lsc> lsc_;
  Credential capf_;
};

TEST_F(LscTest, RequestMakesAnEcdsaKeyAndAVerifiableCsr) {
  auto req = lsc_->Request("CN=mpswitch-1,O=Example,OU=Video");
  ASSERT_TRUE(req.ok()) << req.status();
  EXPECT_EQ(req->csr_path, dir_ + "/lsc.csr");
  EXPECT_EQ(req->key_path, dir_ + "/lsc-pending.key");
  EXPECT_EQ(req->subject, "CN=mpswitch-1,O=Example,OU=Video");
  EXPECT_EQ(Slurp(req->csr_path), req->csr_pem);
  EXPECT_EQ(ModeOf(req->key_path), 0600u);
  EXPECT_EQ(req->csr_pem.find("PRIVATE KEY"), std::string::npos);

  ExpectOpensslVerifies(req->csr_path);

  ReqPtr csr = ReadCsr(req->csr_pem);
  ASSERT_TRUE(csr);
  EVP_PKEY* pub = X509_REQ_get0_pubkey(csr.get());
  ASSERT_NE(pub, nullptr);
  EXPECT_EQ(X509_REQ_verify(csr.get(), pub), 1);
  EXPECT_TRUE(EVP_PKEY_is_a(pub, "EC"));
  EXPECT_EQ(EVP_PKEY_get_bits(pub), 256);
  EXPECT_EQ(X509_REQ_get_signature_nid(csr.get()), NID_ecdsa_with_SHA256);
  EXPECT_EQ(NameToRfc2253(X509_REQ_get_subject_name(csr.get())),
            "CN=mpswitch-1,O=Example,OU=Video");
  // The CSR is for the pending key.
  auto key = PrivateKeyFromPem(Slurp(req->key_path), req->key_path);
  ASSERT_TRUE(key.ok()) << key.status();
  EXPECT_EQ(EVP_PKEY_eq(pub, key->get()), 1);
}

TEST_F(LscTest, RequestMakesAnRsaKeyOnAsk) {
  auto req = lsc_->Request("CN=mpswitch-rsa,O=Example", KeyType::kRsa2048);
  ASSERT_TRUE(req.ok()) << req.status();
  ExpectOpensslVerifies(req->csr_path);
  ReqPtr csr = ReadCsr(req->csr_pem);
  ASSERT_TRUE(csr);
  EVP_PKEY* pub = X509_REQ_get0_pubkey(csr.get());
  ASSERT_NE(pub, nullptr);
  EXPECT_EQ(X509_REQ_verify(csr.get(), pub), 1);
  EXPECT_TRUE(EVP_PKEY_is_a(pub, "RSA"));
  EXPECT_EQ(EVP_PKEY_get_bits(pub), 2048);
  EXPECT_EQ(X509_REQ_get_signature_nid(csr.get()), NID_sha256WithRSAEncryption);
  EXPECT_EQ(ModeOf(req->key_path), 0600u);
}

TEST_F(LscTest, SubjectParser) {
  auto ok = ParseSubject(" cn = spaced name , o=Ex\\,ample,OU=Video\\2B1, c=us");
  ASSERT_TRUE(ok.ok()) << ok.status();
  EXPECT_EQ(NameToRfc2253(ok->get()), "CN=spaced name,O=Ex\\,ample,OU=Video\\+1,C=US");
  EXPECT_EQ(CommonName(ok->get()), "spaced name");

  const char* bad[] = {
      "",                                                                      // empty
      "   ",                                                                   // empty
      "/CN=x/O=y",                                                             // OpenSSL's form
      "CN=a+O=b",                                                              // multi-valued RDN
      "CN=a;O=b",                                                              // ';' separator
      "O=Example",                                                             // no CN
      "CN=a,CN=b",                                                             // two CNs
      "CN=",                                                                   // empty value
      "CN=a,",                                                                 // trailing comma
      "XX=1,CN=a",                                                             // unknown attribute
      "CN",                                                                    // no '='
      "CN=a\\",                                                                // dangling escape
      "CN=a\\q",                                                               // bad escape
      "CN=\"quoted\"",                                                         // quotes
      "C=USA,CN=a",                                                            // country code
      "CN=a\x01z",                                                             // control character
      "CN=aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",  // 65 characters
  };
  for (const char* text : bad) {
    auto r = ParseSubject(text);
    ASSERT_FALSE(r.ok()) << "accepted \"" << text << "\"";
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument) << text;
    EXPECT_NE(r.status().message().find("CN="), std::string::npos) << r.status();
    EXPECT_EQ(r.status().message().find('\n'), std::string::npos) << r.status();
  }
  // Request refuses them before touching the disk.
  auto r = lsc_->Request("O=Example,OU=Video");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_FALSE(fs::exists(lsc_->PendingKeyPath()));
  EXPECT_FALSE(fs::exists(lsc_->CsrPath()));
}

TEST_F(LscTest, APendingRequestIsKeptUnlessReplaced) {
  ASSERT_TRUE(lsc_->Request("CN=one").ok());
  const std::string key1 = Slurp(lsc_->PendingKeyPath());
  auto again = lsc_->Request("CN=two");
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.status().code(), absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(Slurp(lsc_->PendingKeyPath()), key1);
  auto replaced = lsc_->Request("CN=two", KeyType::kEcdsaP256, /*replace_pending=*/true);
  ASSERT_TRUE(replaced.ok()) << replaced.status();
  EXPECT_NE(Slurp(lsc_->PendingKeyPath()), key1);
  EXPECT_EQ(replaced->subject, "CN=two");
}

TEST_F(LscTest, InstallsACertificateForThePendingKey) {
  ASSERT_TRUE(lsc_->Request("CN=mpswitch-1,O=Example,OU=Video").ok());
  const std::string pending_key = Slurp(lsc_->PendingKeyPath());
  X509Ptr cert = IssueForCsr(capf_);
  ASSERT_TRUE(cert);
  auto info =
      lsc_->Install(CertificateToPem(cert.get()), CertificateToPem(capf_.cert.get()), *trust_);
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_EQ(info->x509_subject_name, "mpswitch-1");
  EXPECT_EQ(info->subject, "CN=mpswitch-1,O=Example,OU=Video");
  EXPECT_EQ(info->issuer, "CN=CAPF-test,O=Example");
  EXPECT_EQ(info->serial_hex, SerialHex(cert.get()));
  EXPECT_TRUE(info->key_matches);
  EXPECT_EQ(info->chain_certificates, 1u);
  EXPECT_FALSE(info->expires_soon);
  EXPECT_FALSE(info->expired);

  // Installed: the pending key became the LSC key (still 0600), the request is gone.
  EXPECT_EQ(Slurp(lsc_->KeyPath()), pending_key);
  EXPECT_EQ(ModeOf(lsc_->KeyPath()), 0600u);
  EXPECT_EQ(Slurp(lsc_->CertPath()), CertificateToPem(cert.get()));
  EXPECT_EQ(Slurp(lsc_->ChainPath()), CertificateToPem(capf_.cert.get()));
  EXPECT_FALSE(fs::exists(lsc_->PendingKeyPath()));
  EXPECT_FALSE(fs::exists(lsc_->CsrPath()));
  EXPECT_EQ(VersionDirs(dir_), 1u);

  // Renewal: a new request and install replace it, and the old files go.
  ASSERT_TRUE(lsc_->Request("CN=mpswitch-1,O=Example,OU=Video").ok());
  X509Ptr renewed = IssueForCsr(capf_);
  ASSERT_TRUE(renewed);
  auto info2 = lsc_->Install(CertificateToPem(renewed.get()), "", *trust_);
  ASSERT_TRUE(info2.ok()) << info2.status();
  EXPECT_EQ(info2->serial_hex, SerialHex(renewed.get()));
  EXPECT_EQ(info2->chain_certificates, 0u);
  EXPECT_TRUE(info2->key_matches);
  EXPECT_EQ(VersionDirs(dir_), 1u);
  auto shown = lsc_->Show();
  ASSERT_TRUE(shown.ok()) << shown.status();
  EXPECT_EQ(shown->serial_hex, SerialHex(renewed.get()));
}

TEST_F(LscTest, InstallsThroughAnIntermediateInTheChain) {
  Credential intermediate = MakeCa("CN=CAPF-sub,O=Example", capf_.cert.get(), capf_.key.get());
  ASSERT_TRUE(lsc_->Request("CN=mpswitch-1,O=Example,OU=Video").ok());
  X509Ptr cert = IssueForCsr(intermediate);
  ASSERT_TRUE(cert);
  // Without the intermediate the chain does not reach CAPF-trust.
  auto refused = lsc_->Install(CertificateToPem(cert.get()), "", *trust_);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kPermissionDenied);
  auto info = lsc_->Install(
      CertificateToPem(cert.get()),
      CertificateToPem(intermediate.cert.get()) + CertificateToPem(capf_.cert.get()), *trust_);
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_EQ(info->chain_certificates, 2u);
}

TEST_F(LscTest, RefusesACertificateForAnotherKey) {
  ASSERT_TRUE(lsc_->Request("CN=mpswitch-1,O=Example,OU=Video").ok());
  auto other_key = GenerateKey(KeyType::kEcdsaP256);
  ASSERT_TRUE(other_key.ok());
  CertificateSpec spec;
  spec.subject = "CN=mpswitch-1,O=Example,OU=Video";
  auto cert = IssueCertificate(spec, other_key->get(), capf_.cert.get(), capf_.key.get());
  ASSERT_TRUE(cert.ok()) << cert.status();
  auto r = lsc_->Install(CertificateToPem(cert->get()), "", *trust_);
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(absl::StartsWith(r.status().message(), "TLS error: Error loading Private key file"))
      << r.status();
  EXPECT_EQ(r.status().message().find('\n'), std::string::npos);
  // Nothing changed: no LSC, the request still pending.
  EXPECT_FALSE(fs::exists(lsc_->CertPath()));
  EXPECT_FALSE(fs::exists(lsc_->KeyPath()));
  EXPECT_TRUE(fs::exists(lsc_->PendingKeyPath()));
  EXPECT_EQ(VersionDirs(dir_), 0u);
  // And without any key at all the same words.
  fs::remove(lsc_->PendingKeyPath());
  auto none = lsc_->Install(CertificateToPem(cert->get()), "", *trust_);
  ASSERT_FALSE(none.ok());
  EXPECT_TRUE(absl::StartsWith(none.status().message(), absl::string_view(kLscKeyMismatchText.data(), kLscKeyMismatchText.size()))) << none.status();
}

TEST_F(LscTest, RefusesACertificateThatDoesNotChainToCapfTrust) {
  ASSERT_TRUE(lsc_->Request("CN=mpswitch-1,O=Example,OU=Video").ok());
  Credential stranger = MakeCa("CN=Some other CA");
  X509Ptr cert = IssueForCsr(stranger);
  ASSERT_TRUE(cert);
  auto r =
      lsc_->Install(CertificateToPem(cert.get()), CertificateToPem(stranger.cert.get()), *trust_);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_NE(r.status().message().find("CAPF-trust"), std::string::npos) << r.status();
  EXPECT_NE(r.status().message().find("mpswitch cert upload CAPF-trust"), std::string::npos);
  EXPECT_FALSE(fs::exists(lsc_->CertPath()));
  EXPECT_TRUE(fs::exists(lsc_->PendingKeyPath()));
  EXPECT_EQ(VersionDirs(dir_), 0u);

  // A key or a CSR where the certificate should be is refused as such.
  auto key_as_cert = lsc_->Install(Slurp(lsc_->PendingKeyPath()), "", *trust_);
  ASSERT_FALSE(key_as_cert.ok());
  EXPECT_NE(key_as_cert.status().message().find("private key"), std::string::npos);
  auto csr_as_cert = lsc_->Install(Slurp(lsc_->CsrPath()), "", *trust_);
  ASSERT_FALSE(csr_as_cert.ok());
  EXPECT_NE(csr_as_cert.status().message().find("signing request"), std::string::npos);
}

TEST_F(LscTest, ShowsExpirySoon) {
  ASSERT_TRUE(lsc_->Request("CN=XXX-000,O=cisco").ok());
  X509Ptr cert = IssueForCsr(capf_, absl::Hours(24 * 10), "CN=XXX-000,O=cisco");
  ASSERT_TRUE(cert);
  ASSERT_TRUE(lsc_->Install(CertificateToPem(cert.get()), "", *trust_).ok());
  auto info = lsc_->Show();
  ASSERT_TRUE(info.ok()) << info.status();
  // The seed guide's example: "Subject: CN=XXX-000, O=cisco" -> X.509 Subject Name "XXX-000".
  EXPECT_EQ(info->x509_subject_name, "XXX-000");
  EXPECT_EQ(info->subject, "CN=XXX-000,O=cisco");
  EXPECT_GE(info->days_until_expiry, 9);
  EXPECT_LE(info->days_until_expiry, 10);
  EXPECT_TRUE(info->expires_soon);
  EXPECT_FALSE(info->expired);
  EXPECT_LT(info->not_before, absl::Now());
  EXPECT_GT(info->not_after, absl::Now() + absl::Hours(24 * 9));
  EXPECT_NE(info->not_after_text.find("UTC"), std::string::npos);
  EXPECT_EQ(info->cert_path, lsc_->CertPath());

  // Eleven days on it has expired.
  auto later = lsc_->Show(absl::Now() + absl::Hours(24 * 11));
  ASSERT_TRUE(later.ok());
  EXPECT_TRUE(later->expired);
  EXPECT_TRUE(later->expires_soon);
  EXPECT_LT(later->days_until_expiry, 0);
}

TEST_F(LscTest, ShowWithoutAnLscSaysWhatToRun) {
  auto info = lsc_->Show();
  ASSERT_FALSE(info.ok());
  EXPECT_EQ(info.status().code(), absl::StatusCode::kNotFound);
  EXPECT_NE(info.status().message().find("mpswitch lsc request"), std::string::npos);
}

}  // namespace
}  // namespace mpswitch::control::trust
