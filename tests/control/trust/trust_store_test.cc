#include "mpswitch/control/trust/trust_store.h"

#include <dirent.h>
#include <gtest/gtest.h>
#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <utility>

#include "mpswitch/control/trust/dev_pki.h"
#include "mpswitch/control/trust/lsc.h"
#include "trust_test_support.h"

namespace mpswitch::control::trust {
namespace {

namespace fs = std::filesystem;
using namespace support;


std::string Der(X509* x) {
  const int n = i2d_X509(x, nullptr);
  EXPECT_GT(n, 0);
  std::string s(static_cast<size_t>(n), '\0');
  auto* p = reinterpret_cast<unsigned char*>(s.data());
  i2d_X509(x, &p);
  return s;
}

std::string KeyPem(EVP_PKEY* k) {
  auto pem = PrivateKeyToPem(k);
  EXPECT_TRUE(pem.ok());
  return pem.ok() ? *pem : "";
}

std::string KeyDer(EVP_PKEY* k) {
  const int n = i2d_PrivateKey(k, nullptr);
  EXPECT_GT(n, 0);
  std::string s(static_cast<size_t>(n), '\0');
  auto* p = reinterpret_cast<unsigned char*>(s.data());
  i2d_PrivateKey(k, &p);
  return s;
}

// A CSR for `key`, as PEM and DER.
std::pair<std::string, std::string> Csr(EVP_PKEY* key) {
  X509_REQ* req = X509_REQ_new();
  X509_NAME* name = X509_REQ_get_subject_name(req);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
                             reinterpret_cast<const unsigned char*>("csr"), -1, -1, 0);
  X509_REQ_set_pubkey(req, key);
  EXPECT_GT(X509_REQ_sign(req, key, EVP_sha256()), 0);
  BIO* bio = BIO_new(BIO_s_mem());
  PEM_write_bio_X509_REQ(bio, req);
  char* data = nullptr;
  const long n = BIO_get_mem_data(bio, &data);
  std::string pem(data, static_cast<size_t>(n));
  BIO_free(bio);
  const int dn = i2d_X509_REQ(req, nullptr);
  std::string der(static_cast<size_t>(dn), '\0');
  auto* p = reinterpret_cast<unsigned char*>(der.data());
  i2d_X509_REQ(req, &p);
  X509_REQ_free(req);
  return {pem, der};
}

bool Verifies(X509_STORE* store, X509* leaf) {
  X509_STORE_CTX* ctx = X509_STORE_CTX_new();
  X509_STORE_CTX_init(ctx, store, leaf, nullptr);
  const bool ok = X509_verify_cert(ctx) == 1;
  X509_STORE_CTX_free(ctx);
  return ok;
}

class TrustStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = ::testing::TempDir() + "mpswitch_trust_store_" + std::to_string(::getpid()) + "_" +
           ::testing::UnitTest::GetInstance()->current_test_info()->name();
    std::error_code ec;
    fs::remove_all(dir_, ec);
    auto store = TrustStore::Open(dir_, /*create=*/true);
    ASSERT_TRUE(store.ok()) << store.status();
    store_.emplace(*std::move(store));
    ca_ = MakeCa("CN=Test CA,O=Example");
  }
  void TearDown() override {
    std::error_code ec;
    fs::permissions(capf_dir(), fs::perms::owner_all, fs::perm_options::add, ec);
    fs::remove_all(dir_, ec);
  }
  std::string capf_dir() const { return dir_ + "/CAPF-trust"; }
  std::string ctm_dir() const { return dir_ + "/CTM-trust"; }

  std::string dir_;
  std::optional<TrustStore> store_;
  Credential ca_;
};

TEST_F(TrustStoreTest, OpenRefusesAMissingDirectoryUnlessAskedToCreate) {
  auto missing = TrustStore::Open(dir_ + "/nope");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  EXPECT_NE(missing.status().message().find(dir_ + "/nope"), std::string::npos);
  EXPECT_TRUE(fs::is_directory(capf_dir()));
  EXPECT_TRUE(fs::is_directory(ctm_dir()));
}

TEST_F(TrustStoreTest, UnitNames) {
  EXPECT_EQ(TrustUnitName(TrustUnit::kCapfTrust), "CAPF-trust");
  EXPECT_EQ(TrustUnitName(TrustUnit::kCtmTrust), "CTM-trust");
  auto u = ParseTrustUnit("capf-TRUST");
  ASSERT_TRUE(u.ok());
  EXPECT_EQ(*u, TrustUnit::kCapfTrust);
  u = ParseTrustUnit("CTM-TRUST");
  ASSERT_TRUE(u.ok());
  EXPECT_EQ(*u, TrustUnit::kCtmTrust);
  u = ParseTrustUnit("tomcat");
  ASSERT_FALSE(u.ok());
  EXPECT_NE(u.status().message().find("CAPF-trust"), std::string::npos);
}

TEST_F(TrustStoreTest, UploadsDerAndPem) {
  // DER into CAPF-trust, as the seed guide uploads CAPF.der.
  auto row = store_->Upload(TrustUnit::kCapfTrust, Der(ca_.cert.get()), "CAPF.der");
  ASSERT_TRUE(row.ok()) << row.status();
  EXPECT_EQ(row->unit, TrustUnit::kCapfTrust);
  EXPECT_EQ(row->category, "trust");
  EXPECT_EQ(row->name, "Test_CA_" + SerialHex(ca_.cert.get()) + ".pem");
  EXPECT_EQ(row->subject, "CN=Test CA,O=Example");
  EXPECT_EQ(row->issuer, "CN=Test CA,O=Example");
  EXPECT_EQ(row->serial_hex, SerialHex(ca_.cert.get()));
  EXPECT_EQ(row->sha1_fingerprint, CertificateFingerprint(ca_.cert.get(), EVP_sha1()));
  EXPECT_EQ(row->sha1_fingerprint.size(), 59u);  // 20 bytes as AB:CD:...
  EXPECT_NE(row->not_after_text.find(" UTC"), std::string::npos);
  EXPECT_GT(row->not_after, absl::Now() + absl::Hours(24 * 364));
  const std::string stored = capf_dir() + "/" + row->name;
  EXPECT_EQ(Slurp(stored), CertificateToPem(ca_.cert.get()));
  struct stat st;
  ASSERT_EQ(::stat(stored.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0644u);

  // PEM into CTM-trust, as CUCM0.pem.
  Credential node = MakeLeaf("CN=cucm0,O=Example", ca_);
  auto row2 = store_->Upload(TrustUnit::kCtmTrust, CertificateToPem(node.cert.get()), "CUCM0.pem");
  ASSERT_TRUE(row2.ok()) << row2.status();
  EXPECT_EQ(row2->issuer, "CN=Test CA,O=Example");

  auto rows = store_->List();
  ASSERT_TRUE(rows.ok()) << rows.status();
  ASSERT_EQ(rows->size(), 2u);
  EXPECT_EQ((*rows)[0].unit, TrustUnit::kCapfTrust);
  EXPECT_EQ((*rows)[1].unit, TrustUnit::kCtmTrust);
  EXPECT_EQ((*rows)[1].subject, "CN=cucm0,O=Example");
  EXPECT_EQ((*rows)[1].sha256_fingerprint, CertificateFingerprint(node.cert.get(), EVP_sha256()));
  const std::string table = FormatCertificateTable(*rows);
  EXPECT_NE(table.find("Showing 1 - 2 of 2 records"), std::string::npos);
  EXPECT_NE(table.find("CTM-trust"), std::string::npos);
  EXPECT_NE(table.find(row2->name), std::string::npos);

  auto certs = store_->Certificates(TrustUnit::kCtmTrust);
  ASSERT_TRUE(certs.ok());
  ASSERT_EQ(certs->size(), 1u);
  EXPECT_EQ(X509_cmp((*certs)[0].get(), node.cert.get()), 0);
}

TEST_F(TrustStoreTest, RefusesADuplicate) {
  auto first = store_->Upload(TrustUnit::kCapfTrust, Der(ca_.cert.get()), "CAPF.der");
  ASSERT_TRUE(first.ok()) << first.status();
  // The same certificate again, this time as PEM: same SHA-256, refused.
  auto again = store_->Upload(TrustUnit::kCapfTrust, CertificateToPem(ca_.cert.get()), "CAPF.pem");
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.status().code(), absl::StatusCode::kAlreadyExists);
  EXPECT_NE(again.status().message().find(first->name), std::string::npos);
  EXPECT_EQ(Entries(capf_dir()), std::set<std::string>{first->name});
  // Another unit may hold it too.
  EXPECT_TRUE(store_->Upload(TrustUnit::kCtmTrust, Der(ca_.cert.get()), "CAPF.der").ok());
}

TEST_F(TrustStoreTest, RefusesWhatIsNotOneCertificate) {
  Credential leaf = MakeLeaf("CN=cucm1", ca_);
  const auto [csr_pem, csr_der] = Csr(leaf.key.get());
  const std::string key_pem = KeyPem(leaf.key.get());
  struct Case {
    std::string what;
    std::string bytes;
    std::string expect;
  };
  const Case cases[] = {
      {"empty", "", "is empty"},
      {"garbage", "hello, this is not a certificate\n", "not an X.509 certificate"},
      {"binary garbage",
       std::string("\x30\x82\x01\x00"
                   "garbage",
                   11),
       "not an X.509 certificate"},
      {"key PEM", key_pem, "private key"},
      {"key DER", KeyDer(leaf.key.get()), "private key"},
      {"certificate with its key", CertificateToPem(leaf.cert.get()) + key_pem, "private key"},
      {"CSR PEM", csr_pem, "certificate signing request"},
      {"CSR DER", csr_der, "certificate signing request"},
      {"two certificates", CertificateToPem(leaf.cert.get()) + CertificateToPem(ca_.cert.get()),
       "2 certificates"},
      {"two DER certificates", Der(leaf.cert.get()) + Der(ca_.cert.get()), "several"},
      {"DER with trailing bytes", Der(leaf.cert.get()) + "xyz", "after its certificate"},
      {"truncated PEM", CertificateToPem(leaf.cert.get()).substr(0, 200), "cannot be read"},
      {"other PEM block", "-----BEGIN FOO-----\nAAAA\n-----END FOO-----\n", "FOO"},
  };
  for (const Case& c : cases) {
    auto r = store_->Upload(TrustUnit::kCtmTrust, c.bytes, "upload.bin");
    ASSERT_FALSE(r.ok()) << c.what;
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument) << c.what;
    EXPECT_NE(r.status().message().find(c.expect), std::string::npos)
        << c.what << ": " << r.status();
    EXPECT_NE(r.status().message().find("upload.bin"), std::string::npos) << c.what;
    EXPECT_EQ(r.status().message().find('\n'), std::string::npos) << c.what;
    EXPECT_TRUE(Entries(ctm_dir()).empty()) << c.what;
  }
}

TEST_F(TrustStoreTest, ShowsAndDeletes) {
  auto row = store_->Upload(TrustUnit::kCapfTrust, Der(ca_.cert.get()), "CAPF.der");
  ASSERT_TRUE(row.ok()) << row.status();
  auto text = store_->Show(TrustUnit::kCapfTrust, row->name);
  ASSERT_TRUE(text.ok()) << text.status();
  EXPECT_NE(text->find("Unit: CAPF-trust"), std::string::npos);
  EXPECT_NE(text->find("Certificate Name: " + row->name), std::string::npos);
  EXPECT_NE(text->find("SHA-1 Fingerprint: " + row->sha1_fingerprint), std::string::npos);
  EXPECT_NE(text->find("Subject: CN=Test CA,O=Example"), std::string::npos);
  EXPECT_NE(text->find("CA:TRUE"), std::string::npos);
  EXPECT_NE(text->find("-----BEGIN CERTIFICATE-----"), std::string::npos);

  auto bad = store_->Show(TrustUnit::kCapfTrust, "../CTM-trust/x.pem");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  auto missing = store_->Show(TrustUnit::kCtmTrust, row->name);
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);

  EXPECT_EQ(store_->Delete(TrustUnit::kCapfTrust, ".hidden.pem").code(),
            absl::StatusCode::kInvalidArgument);
  ASSERT_TRUE(store_->Delete(TrustUnit::kCapfTrust, row->name).ok());
  auto rows = store_->List();
  ASSERT_TRUE(rows.ok());
  EXPECT_TRUE(rows->empty());
  EXPECT_EQ(store_->Delete(TrustUnit::kCapfTrust, row->name).code(), absl::StatusCode::kNotFound);
}

TEST_F(TrustStoreTest, NamesAreSanitisedAndCollisionsNumbered) {
  Credential odd = MakeLeaf("CN=../../etc/pass wd", ca_);
  auto row = store_->Upload(TrustUnit::kCtmTrust, Der(odd.cert.get()), "odd.der");
  ASSERT_TRUE(row.ok()) << row.status();
  EXPECT_EQ(row->name.find('/'), std::string::npos);
  EXPECT_NE(row->name.front(), '.');
  EXPECT_TRUE(fs::exists(ctm_dir() + "/" + row->name));

  // A different certificate with the same CN and serial (re-signed with a new validity).
  X509Ptr twin(X509_dup(odd.cert.get()));
  ASSERT_TRUE(twin);
  ASSERT_NE(X509_time_adj_ex(X509_getm_notAfter(twin.get()), 3, 0, nullptr), nullptr);
  ASSERT_GT(X509_sign(twin.get(), ca_.key.get(), EVP_sha256()), 0);
  auto row2 = store_->Upload(TrustUnit::kCtmTrust, Der(twin.get()), "twin.der");
  ASSERT_TRUE(row2.ok()) << row2.status();
  EXPECT_EQ(row2->name, row->name.substr(0, row->name.size() - 4) + "-2.pem");
  EXPECT_EQ(row2->serial_hex, row->serial_hex);
}

TEST_F(TrustStoreTest, StoreForVerifiesAgainstTheUnits) {
  Credential node = MakeLeaf("CN=cucm2", ca_);
  auto empty = store_->StoreFor({TrustUnit::kCapfTrust});
  ASSERT_FALSE(empty.ok());
  EXPECT_EQ(empty.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(empty.status().message().find("mpswitch cert upload"), std::string::npos);

  ASSERT_TRUE(store_->Upload(TrustUnit::kCapfTrust, Der(ca_.cert.get()), "CAPF.der").ok());
  auto capf = store_->StoreFor({TrustUnit::kCapfTrust});
  ASSERT_TRUE(capf.ok()) << capf.status();
  EXPECT_TRUE(Verifies(capf->get(), node.cert.get()));

  // CTM-trust pins a node's own (not self-signed) certificate: a trust anchor by itself.
  Credential other_ca = MakeCa("CN=Other CA");
  Credential pinned = MakeLeaf("CN=cucm3", other_ca);
  ASSERT_TRUE(
      store_->Upload(TrustUnit::kCtmTrust, CertificateToPem(pinned.cert.get()), "CUCM3.pem").ok());
  auto ctm = store_->StoreFor({TrustUnit::kCtmTrust});
  ASSERT_TRUE(ctm.ok()) << ctm.status();
  EXPECT_TRUE(Verifies(ctm->get(), pinned.cert.get()));
  EXPECT_FALSE(Verifies(ctm->get(), node.cert.get()));
  auto both = store_->StoreFor(kAllTrustUnits);
  ASSERT_TRUE(both.ok());
  EXPECT_TRUE(Verifies(both->get(), node.cert.get()));
  EXPECT_TRUE(Verifies(both->get(), pinned.cert.get()));
}

TEST_F(TrustStoreTest, AForeignFileInAUnitIsReportedNotSkipped) {
  {
    std::ofstream f(ctm_dir() + "/junk.pem");
    f << "not a certificate\n";
  }
  auto rows = store_->List();
  ASSERT_FALSE(rows.ok());
  EXPECT_NE(rows.status().message().find("junk.pem"), std::string::npos);
  EXPECT_NE(rows.status().message().find("mpswitch cert delete CTM-trust junk.pem"),
            std::string::npos);
  EXPECT_TRUE(store_->Delete(TrustUnit::kCtmTrust, "junk.pem").ok());
  EXPECT_TRUE(store_->List().ok());
}

// A failed upload changes nothing. The write itself fails half way (RLIMIT_FSIZE: EFBIG after 64
// bytes, which binds root too, unlike directory permissions): the temp file is removed and the
// unit holds exactly what it held.
TEST_F(TrustStoreTest, FailedUploadUnderAFileSizeLimitLeavesTheUnitUnchanged) {
  ASSERT_TRUE(store_->Upload(TrustUnit::kCapfTrust, Der(ca_.cert.get()), "CAPF.der").ok());
  const std::set<std::string> before = Entries(capf_dir());
  const std::string before_text = Slurp(capf_dir() + "/" + *before.begin());
  Credential other = MakeCa("CN=Second CA");
  const std::string der = Der(other.cert.get());

  rlimit old_limit{};
  ASSERT_EQ(::getrlimit(RLIMIT_FSIZE, &old_limit), 0);
  rlimit small = old_limit;
  small.rlim_cur = 64;
  void (*old_handler)(int) = ::signal(SIGXFSZ, SIG_IGN);
  ASSERT_EQ(::setrlimit(RLIMIT_FSIZE, &small), 0);
  auto r = store_->Upload(TrustUnit::kCapfTrust, der, "second.der");
  ::setrlimit(RLIMIT_FSIZE, &old_limit);
  ::signal(SIGXFSZ, old_handler);

  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("was not uploaded"), std::string::npos) << r.status();
  EXPECT_EQ(Entries(capf_dir()), before);
  EXPECT_EQ(Slurp(capf_dir() + "/" + *before.begin()), before_text);
  // And the same upload succeeds once the limit is gone.
  EXPECT_TRUE(store_->Upload(TrustUnit::kCapfTrust, der, "second.der").ok());
}

}  // namespace
}  // namespace mpswitch::control::trust
