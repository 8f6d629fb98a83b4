// CTL/ITL trust lists (control/trust/ctl.h): files built from scratch by ctl_builder.h (RSA-2048
// keys and self-signed certificates made here, TLVs assembled and signed per CTL-FORMAT.md), then
// parsed, verified and printed; and every way a file can be wrong, refused by name.
#include "mpswitch/control/trust/ctl.h"

#include <gtest/gtest.h>
#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <set>
#include <span>
#include <string>
#include <vector>

#include "../../support/hex.h"
#include "ctl_builder.h"

namespace mpswitch::control::trust {
namespace {

namespace b = ::mpswitch::testing::ctl;
using ::mpswitch::testing::FromHex;
using ::mpswitch::testing::ToHex;

// Key generation is the slow part: one cluster for the whole binary (kept reachable on purpose).
const b::Cluster& Pki() {
  static const b::Cluster* const c = new b::Cluster(b::MakeCluster());
  return *c;
}

// A key and certificate no file lists.
const b::Identity& Outsider() {
  static const b::Identity* const id =
      new b::Identity(b::MakeIdentity("outsider", {0x01, 0x02, 0x03}));
  return *id;
}

::testing::AssertionResult Contains(const std::string& hay, const std::string& needle) {
  if (hay.find(needle) != std::string::npos) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "\"" << needle << "\" not in:\n" << hay;
}

size_t Count(const std::string& hay, const std::string& needle) {
  size_t n = 0;
  for (size_t at = hay.find(needle); at != std::string::npos; at = hay.find(needle, at + 1)) ++n;
  return n;
}

bool IsCert(const CtlRecord& r, const b::Identity& id) {
  return r.certificate && *r.certificate == id.der;
}

std::string Spaced(const unsigned char* p, size_t n) {
  std::string s;
  char buf[4];
  for (size_t i = 0; i < n; ++i) {
    std::snprintf(buf, sizeof buf, "%02X", p[i]);
    if (i) s += ' ';
    s += buf;
  }
  return s;
}

// What `openssl x509 -fingerprint -sha1` prints (there with colons; `show ctl` spaces them).
std::string OpensslFingerprint(const X509* x) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  EXPECT_EQ(X509_digest(x, EVP_sha1(), md, &n), 1);
  return Spaced(md, n);
}

std::string Pem(X509* x) {
  BIO* bio = BIO_new(BIO_s_mem());
  EXPECT_EQ(PEM_write_bio_X509(bio, x), 1);
  char* p = nullptr;
  const long n = BIO_get_mem_data(bio, &p);
  std::string s(p, static_cast<size_t>(n));
  BIO_free(bio);
  return s;
}

size_t Find(const std::vector<uint8_t>& hay, const std::vector<uint8_t>& needle) {
  const auto it = std::search(hay.begin(), hay.end(), needle.begin(), needle.end());
  EXPECT_NE(it, hay.end());
  return static_cast<size_t>(it - hay.begin());
}

void PutU16(std::vector<uint8_t>& f, size_t at, uint16_t v) {
  f[at] = static_cast<uint8_t>(v >> 8);
  f[at + 1] = static_cast<uint8_t>(v);
}

TEST(CtlTest, SignedCtlVerifiesAndPrintsItsFields) {
  const b::Cluster& c = Pki();
  const b::BuiltFile f = b::BuildCtl(c, c.sast1);
  auto ctl = ParseCtl(f.bytes, "CTLFile.tlv");
  ASSERT_TRUE(ctl.ok()) << ctl.status();

  const CtlHeader& h = ctl->header;
  EXPECT_EQ(h.version_major, 1);
  EXPECT_EQ(h.version_minor, 2);
  EXPECT_EQ(h.header_length, f.header_length);
  EXPECT_EQ(h.header_length % 4, 0);
  ASSERT_TRUE(h.signer_name);
  EXPECT_EQ(h.signer_name->text, c.sast1.subject);
  EXPECT_EQ(h.signer_name->length, c.sast1.subject.size() + 1);  // the NUL counts
  ASSERT_TRUE(h.signer_serial);
  EXPECT_EQ(*h.signer_serial, c.sast1.serial);
  EXPECT_EQ(c.sast1.serial.size(), 10u);  // top bit set: one byte shorter than in the DER
  ASSERT_TRUE(h.ca_name);
  EXPECT_EQ(h.ca_name->text, c.sast1.subject);
  EXPECT_EQ(h.digest_code, digest_code::kSha1);
  EXPECT_EQ(h.signature_algorithm, 0);
  EXPECT_EQ(h.modulus_code, 2);
  EXPECT_EQ(h.signature.size(), 256u);
  EXPECT_EQ(h.signature_offset, f.signature_offset);
  ASSERT_TRUE(h.file_name);
  EXPECT_EQ(h.file_name->text, "CTLFile.tlv");
  EXPECT_EQ(h.timestamp, 1314811683u);
  EXPECT_TRUE(h.unknown.empty());

  ASSERT_EQ(ctl->records.size(), 4u);
  for (size_t i = 0; i < 4; ++i) {
    EXPECT_EQ(ctl->records[i].index, i + 1);
    EXPECT_EQ(ctl->records[i].offset, f.record_offsets[i]);
  }
  const auto& r = ctl->records;
  EXPECT_EQ(r[0].function, role::kSast);
  EXPECT_TRUE(IsCert(r[0], c.sast1));
  EXPECT_EQ(r[1].function, role::kSast);
  EXPECT_TRUE(IsCert(r[1], c.sast2));
  EXPECT_EQ(r[2].function, role::kCcmTftp);
  EXPECT_TRUE(IsCert(r[2], c.callmanager));
  ASSERT_TRUE(r[2].dns_name);
  EXPECT_EQ(r[2].dns_name->text, "cucm-pub");
  EXPECT_EQ(r[2].ip_address, (std::vector<uint8_t>{10, 48, 47, 153}));
  EXPECT_EQ(r[2].public_key->size(), 270u);  // PKCS#1 RSAPublicKey at 2048 bits (§3)
  EXPECT_EQ(r[3].function, role::kCapf);
  EXPECT_TRUE(IsCert(r[3], c.capf));

  auto signer = FindTrustedSigner(
      *ctl, [&](const CtlRecord& rec) { return IsCert(rec, c.sast1) || IsCert(rec, c.sast2); });
  ASSERT_TRUE(signer.ok()) << signer.status();
  EXPECT_EQ(b::DerOf(signer->get()), c.sast1.der);
  const absl::Status st = Verify(*ctl, f.bytes, signer->get());
  EXPECT_TRUE(st.ok()) << st;

  const std::string text = FormatCtl(*ctl, st);
  const std::string n = std::to_string(f.bytes.size());
  EXPECT_TRUE(Contains(text, "Length of CTL file: " + n + "\n"));
  unsigned char sha1[20];
  unsigned int len = 0;
  ASSERT_EQ(EVP_Digest(f.bytes.data(), f.bytes.size(), sha1, &len, EVP_sha1(), nullptr), 1);
  EXPECT_TRUE(Contains(text, ToHex(std::vector<uint8_t>(sha1, sha1 + 20)) + "(SHA1)"));
  EXPECT_TRUE(Contains(text, "Version: 1.2\n"));
  EXPECT_TRUE(Contains(text, "HeaderLength: " + std::to_string(f.header_length) + " (BYTES)\n"));
  EXPECT_TRUE(Contains(text, "4\tSIGNERNAME\t" + std::to_string(c.sast1.subject.size() + 1) +
                                 "\t" + c.sast1.subject + "\n"));
  EXPECT_TRUE(Contains(text, "5\tSERIALNUMBER\t10\tBD:A3:02:00:00:00:D8:88:64:1F\n"));
  EXPECT_TRUE(Contains(text, "8\tDIGESTALGORTITHM\t1\tSHA-1\n"));
  EXPECT_TRUE(Contains(text, "10\tSIGNATUREALGORTITHM\t1\tRSA\n"));
  EXPECT_TRUE(Contains(text, "11\tSIGNATUREMODULUS\t1\t2048 bits\n"));
  EXPECT_TRUE(Contains(text, "12\tSIGNATURE\t256\t\n"));
  EXPECT_TRUE(Contains(text, "14\tFILENAME\t12\tCTLFile.tlv\n"));
  EXPECT_TRUE(Contains(text, "15\tTIMESTAMP\t4\tWed Aug 31 17:28:03 UTC 2011"));
  EXPECT_TRUE(Contains(text, "CTL Record #:1\n"));
  EXPECT_TRUE(Contains(text, "CTL Record #:4\n"));
  EXPECT_EQ(Count(text, "4\tFUNCTION\t2\tSystem Administrator Security Token\n"), 2u);
  EXPECT_TRUE(Contains(text, "4\tFUNCTION\t2\tCCM+TFTP\n"));
  EXPECT_TRUE(Contains(text, "4\tFUNCTION\t2\tCAPF\n"));
  EXPECT_TRUE(Contains(text, "2\tDNSNAME\t9\tcucm-pub\n"));
  EXPECT_TRUE(Contains(text, "10\tIPADDRESS\t4\t10.48.47.153\n"));
  EXPECT_TRUE(
      Contains(text, "6\tSERIALNUMBER\t16\t70:CA:F6:4E:09:07:51:B9:DF:22:F4:9F:75:4F:C5:BB\n"));
  EXPECT_TRUE(Contains(text, "7\tPUBLICKEY\t270\t\n"));
  EXPECT_EQ(Count(text, "This etoken was used to sign the CTL file."), 1u);
  EXPECT_EQ(Count(text, "This etoken was not used to sign the CTL file."), 1u);
  EXPECT_LT(text.find("was used to sign"), text.find("was not used to sign"));  // record 1 signed
  EXPECT_TRUE(Contains(text, "\nThe CTL file was verified successfully.\n"));

  const ImportSet imp = CertificatesForImport(*ctl);
  ASSERT_EQ(imp.ctm_trust.size(), 1u);
  EXPECT_EQ(imp.ctm_trust[0].der, c.callmanager.der);
  EXPECT_EQ(imp.ctm_trust[0].record_index, 3u);
  EXPECT_EQ(imp.ctm_trust[0].function, role::kCcmTftp);
  ASSERT_EQ(imp.capf_trust.size(), 1u);
  EXPECT_EQ(imp.capf_trust[0].der, c.capf.der);
}

TEST(CtlTest, ExplicitSignerFromPemVerifiesAndMustBeTheNamedOne) {
  const b::Cluster& c = Pki();
  const b::BuiltFile f = b::BuildCtl(c, c.sast2);  // signed by the backup token
  auto ctl = ParseCtl(f.bytes, "CTLFile.tlv");
  ASSERT_TRUE(ctl.ok()) << ctl.status();
  auto signer = SignerFromPem(Pem(c.sast2.cert.get()));
  ASSERT_TRUE(signer.ok()) << signer.status();
  EXPECT_TRUE(Verify(*ctl, f.bytes, signer->get()).ok());
  const std::string text = FormatCtl(*ctl, absl::OkStatus());
  EXPECT_LT(text.find("was not used to sign"), text.find("was used to sign"));  // record 2 signed

  // The other token is in the file, but it is not the signer the header names.
  const absl::Status st = Verify(*ctl, f.bytes, c.sast1.cert.get());
  EXPECT_EQ(st.code(), absl::StatusCode::kUnauthenticated) << st;
  EXPECT_TRUE(Contains(std::string(st.message()), "is not the header's signer serial"));

  EXPECT_EQ(SignerFromPem("not a certificate").status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(CtlTest, SignedItlVerifiesWithTheSastItsSerialNames) {
  const b::Cluster& c = Pki();
  // Before CUCM 12.0 the CallManager certificate signs the ITL; it is the second SAST record,
  // after ITLRecovery: the serial must pick it, not the order.
  const b::BuiltFile f = b::BuildItl(c, c.callmanager);
  auto ctl = ParseCtl(f.bytes, "ITLFile.tlv");
  ASSERT_TRUE(ctl.ok()) << ctl.status();
  ASSERT_EQ(ctl->records.size(), 5u);
  EXPECT_EQ(ctl->records[0].function, role::kSast);
  EXPECT_TRUE(IsCert(ctl->records[0], c.itl_recovery));
  EXPECT_EQ(ctl->records[3].function, role::kTvs);
  ASSERT_TRUE(ctl->records[4].certificate_hash);
  EXPECT_EQ(*ctl->records[4].certificate_hash, b::Sha1Of(c.capf.der));
  EXPECT_EQ(ctl->records[4].hash_algorithm, digest_code::kSha1);

  auto signer = FindTrustedSigner(*ctl, [&](const CtlRecord& r) {
    return IsCert(r, c.itl_recovery) || IsCert(r, c.callmanager);
  });
  ASSERT_TRUE(signer.ok()) << signer.status();
  EXPECT_EQ(b::DerOf(signer->get()), c.callmanager.der);
  const absl::Status st = Verify(*ctl, f.bytes, signer->get());
  EXPECT_TRUE(st.ok()) << st;
  // ITLRecovery is in the file and trusted, but did not sign it.
  EXPECT_EQ(Verify(*ctl, f.bytes, c.itl_recovery.cert.get()).code(),
            absl::StatusCode::kUnauthenticated);

  const std::string text = FormatCtl(*ctl, st);
  EXPECT_TRUE(Contains(text, "Length of ITL file: "));
  EXPECT_TRUE(Contains(text, "14\tFILENAME\t12\tITLFile.tlv\n"));
  EXPECT_TRUE(Contains(text, "ITL Record #:5\n"));
  EXPECT_TRUE(Contains(text, "4\tFUNCTION\t2\tTVS\n"));
  const std::vector<uint8_t> capf_sha1 = b::Sha1Of(c.capf.der);
  EXPECT_TRUE(Contains(text, "11\tCERTHASH\t20\t" + Spaced(capf_sha1.data(), 20) + "\n"));
  EXPECT_TRUE(Contains(text, "12\tHASH ALGORITHM\t1\tSHA-1\n"));
  EXPECT_LT(text.find("This etoken was not used to sign the ITL file."),
            text.find("This etoken was used to sign the ITL file."));
  EXPECT_TRUE(Contains(text, "\nThe ITL file was verified successfully.\n"));

  // CallManager is listed as SAST and as CCM+TFTP: CTM-trust gets it once, from its CCM+TFTP
  // record; TVS and the SASTs go nowhere.
  const ImportSet imp = CertificatesForImport(*ctl);
  ASSERT_EQ(imp.ctm_trust.size(), 1u);
  EXPECT_EQ(imp.ctm_trust[0].der, c.callmanager.der);
  EXPECT_EQ(imp.ctm_trust[0].record_index, 3u);
  ASSERT_EQ(imp.capf_trust.size(), 1u);
  EXPECT_EQ(imp.capf_trust[0].der, c.capf.der);
}

TEST(CtlTest, ImportTakesEachCallManagerAndCapfCertificateOnce) {
  const b::Cluster& c = Pki();
  b::RecordSpec stub;  // a non-secure-mode CCM+TFTP stub: tags 1, 2, 4, 10 only (§3)
  stub.dns_name = "10.48.47.153";
  stub.function = role::kCcmTftp;
  stub.ip_address = std::vector<uint8_t>{10, 48, 47, 153};
  const b::BuiltFile f = b::Build(
      b::HeaderFor(c.sast1),
      {b::RecordFor(c.sast1, role::kSast), b::RecordFor(c.callmanager, role::kCcm),
       b::RecordFor(c.callmanager, role::kCcmTftp), b::RecordFor(c.tvs, role::kTftp),
       b::RecordFor(c.capf, role::kCapf),
       b::WithHash(b::RecordFor(c.capf, role::kCapf), /*drop_certificate=*/true), stub,
       b::RecordFor(c.tvs, 99)},
      c.sast1.key.get());
  auto ctl = ParseCtl(f.bytes, "CTLFile.tlv");
  ASSERT_TRUE(ctl.ok()) << ctl.status();
  ASSERT_TRUE(Verify(*ctl, f.bytes, c.sast1.cert.get()).ok());
  EXPECT_FALSE(ctl->records[5].certificate);
  EXPECT_EQ(ctl->records[6].length, 33u);  // the byte count TAC 118892's stub adds up to

  const ImportSet imp = CertificatesForImport(*ctl);
  ASSERT_EQ(imp.ctm_trust.size(), 1u);
  EXPECT_EQ(imp.ctm_trust[0].der, c.callmanager.der);
  EXPECT_EQ(imp.ctm_trust[0].record_index, 2u);
  EXPECT_EQ(imp.ctm_trust[0].function, role::kCcm);
  ASSERT_EQ(imp.capf_trust.size(), 1u);
  EXPECT_EQ(imp.capf_trust[0].record_index, 5u);
  const std::string text = FormatCtl(*ctl);
  EXPECT_TRUE(Contains(text, "4\tFUNCTION\t2\tTFTP\n"));
  EXPECT_TRUE(Contains(text, "4\tFUNCTION\t2\tUnknown (99)\n"));
  EXPECT_TRUE(Contains(text, "\nThe CTL file was not verified"));
}

TEST(CtlTest, TamperedByteFailsTheSignature) {
  const b::Cluster& c = Pki();
  const b::BuiltFile f = b::BuildCtl(c, c.sast1);
  // A byte of a record's DNS name, of the header's TIMESTAMP, of the signature itself, and the
  // last byte of the file: each still parses, none verifies.
  const std::vector<size_t> positions = {
      Find(f.bytes, b::Str("cucm-pub")) + 2,
      Find(f.bytes, {15, 0, 4, 0x4e, 0x5e, 0x6f, 0x23}) + 6,
      f.signature_offset + 3 + 10,
      f.bytes.size() - 1,
  };
  for (size_t pos : positions) {
    std::vector<uint8_t> bad = f.bytes;
    bad[pos] ^= 0x01;
    auto ctl = ParseCtl(bad, "CTLFile.tlv");
    if (!ctl.ok()) {
      // The last byte is inside the CAPF certificate's signature bits: still DER, so this
      // should not happen; say which byte if it does.
      ADD_FAILURE() << "byte " << pos << ": " << ctl.status();
      continue;
    }
    const absl::Status st = Verify(*ctl, bad, c.sast1.cert.get());
    EXPECT_EQ(st.code(), absl::StatusCode::kUnauthenticated) << "byte " << pos << ": " << st;
    EXPECT_TRUE(Contains(std::string(st.message()), "does not verify"));
    EXPECT_TRUE(Contains(FormatCtl(*ctl, st), "Verification of the CTL file failed: "));
  }
}

TEST(CtlTest, SignedByAnotherKeyIsRefused) {
  const b::Cluster& c = Pki();
  // The header names the first token, but another key of the same size signed.
  const b::BuiltFile f = b::Build(b::HeaderFor(c.sast1), b::CtlRecords(c), Outsider().key.get());
  auto ctl = ParseCtl(f.bytes, "CTLFile.tlv");
  ASSERT_TRUE(ctl.ok()) << ctl.status();
  absl::Status st = Verify(*ctl, f.bytes, c.sast1.cert.get());
  EXPECT_EQ(st.code(), absl::StatusCode::kUnauthenticated) << st;
  EXPECT_TRUE(Contains(std::string(st.message()), "does not verify"));
  // The key that did sign is not the certificate the header names.
  st = Verify(*ctl, f.bytes, Outsider().cert.get());
  EXPECT_EQ(st.code(), absl::StatusCode::kUnauthenticated) << st;
  EXPECT_TRUE(Contains(std::string(st.message()), "is not the header's signer serial"));

  // A 1024-bit key signed: the signature is the wrong size for the named signer's key.
  const b::Identity small = b::MakeIdentity("small", {0x05}, 1024);
  const b::BuiltFile g = b::Build(b::HeaderFor(c.sast1), b::CtlRecords(c), small.key.get());
  auto ctl2 = ParseCtl(g.bytes, "CTLFile.tlv");
  ASSERT_TRUE(ctl2.ok()) << ctl2.status();
  EXPECT_EQ(ctl2->header.modulus_code, 1);
  st = Verify(*ctl2, g.bytes, c.sast1.cert.get());
  EXPECT_EQ(st.code(), absl::StatusCode::kUnauthenticated) << st;
  EXPECT_TRUE(Contains(std::string(st.message()), "another key signed this file"));
}

TEST(CtlTest, SignerNotTrustedIsRefused) {
  const b::Cluster& c = Pki();
  const b::BuiltFile f = b::BuildCtl(c, c.sast1);
  auto ctl = ParseCtl(f.bytes, "CTLFile.tlv");
  ASSERT_TRUE(ctl.ok()) << ctl.status();

  size_t calls = 0;
  auto none = FindTrustedSigner(*ctl, [&](const CtlRecord& r) {
    ++calls;
    EXPECT_EQ(r.index, 1u);  // asked only about the signer the header names
    return false;
  });
  EXPECT_EQ(none.status().code(), absl::StatusCode::kPermissionDenied) << none.status();
  EXPECT_TRUE(Contains(std::string(none.status().message()), "not a trusted signer"));
  EXPECT_TRUE(Contains(std::string(none.status().message()), "record 1"));
  EXPECT_EQ(calls, 1u);
  // Trusting the backup token does not make the file signed by the other one acceptable.
  auto backup = FindTrustedSigner(*ctl, [&](const CtlRecord& r) { return IsCert(r, c.sast2); });
  EXPECT_EQ(backup.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_TRUE(Contains(FormatCtl(*ctl, backup.status()), "Verification of the CTL file failed"));

  // A header naming a serial no SAST record holds.
  b::HeaderSpec h = b::HeaderFor(c.sast1);
  h.signer_serial = std::vector<uint8_t>{0x01, 0x02};
  b::BuiltFile g = b::Build(h, b::CtlRecords(c), c.sast1.key.get());
  auto ctl2 = ParseCtl(g.bytes, "CTLFile.tlv");
  ASSERT_TRUE(ctl2.ok()) << ctl2.status();
  auto missing = FindTrustedSigner(*ctl2, [](const CtlRecord&) { return true; });
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound) << missing.status();

  // The serial matches but the header's SIGNERNAME is not the record's SUBJECTNAME.
  h = b::HeaderFor(c.sast1);
  h.signer_name = "CN=someone else";
  g = b::Build(h, b::CtlRecords(c), c.sast1.key.get());
  auto ctl3 = ParseCtl(g.bytes, "CTLFile.tlv");
  ASSERT_TRUE(ctl3.ok()) << ctl3.status();
  auto renamed = FindTrustedSigner(*ctl3, [](const CtlRecord&) { return true; });
  EXPECT_EQ(renamed.status().code(), absl::StatusCode::kNotFound) << renamed.status();
  EXPECT_TRUE(Contains(std::string(renamed.status().message()), "SUBJECTNAME"));
}

TEST(CtlTest, EveryTruncationIsRefused) {
  const b::Cluster& c = Pki();
  const b::BuiltFile f = b::BuildCtl(c, c.sast1);
  // The format has no record count and no trailer (§1): a file cut exactly after the header or
  // after a record is well formed, and only the signature tells it is not the file signed.
  std::set<size_t> boundaries(f.record_offsets.begin(), f.record_offsets.end());
  boundaries.insert(f.header_length);
  size_t parsed = 0;
  for (size_t n = 0; n < f.bytes.size(); ++n) {
    // A copy of exactly n bytes, so AddressSanitizer sees any read past the end.
    const std::vector<uint8_t> cut(f.bytes.begin(),
                                   f.bytes.begin() + static_cast<std::ptrdiff_t>(n));
    auto ctl = ParseCtl(cut, "CTLFile.tlv");
    if (boundaries.count(n) != 0) {
      ASSERT_TRUE(ctl.ok()) << n << ": " << ctl.status();
      const absl::Status st = Verify(*ctl, cut, c.sast1.cert.get());
      EXPECT_EQ(st.code(), absl::StatusCode::kUnauthenticated) << n << ": " << st;
      ++parsed;
      continue;
    }
    ASSERT_FALSE(ctl.ok()) << "a file cut to " << n << " bytes parsed";
    EXPECT_EQ(ctl.status().code(), absl::StatusCode::kInvalidArgument) << n;
    ASSERT_TRUE(Contains(std::string(ctl.status().message()), "CTLFile.tlv: ")) << n;
  }
  EXPECT_EQ(parsed, boundaries.size());
}

TEST(CtlTest, OversizedInputIsRefusedUnread) {
  const b::Cluster& c = Pki();
  const b::BuiltFile f = b::BuildCtl(c, c.sast1);
  ParseLimits limits;
  limits.max_file_bytes = f.bytes.size() - 1;
  auto over = ParseCtl(f.bytes, "CTLFile.tlv", limits);
  EXPECT_EQ(over.status().code(), absl::StatusCode::kResourceExhausted) << over.status();
  EXPECT_TRUE(Contains(std::string(over.status().message()), "limit"));
  limits.max_file_bytes = f.bytes.size();
  EXPECT_TRUE(ParseCtl(f.bytes, "CTLFile.tlv", limits).ok());

  const std::vector<uint8_t> huge(kDefaultMaxFileBytes + 1, 0);
  EXPECT_EQ(ParseCtl(huge, "big.tlv").status().code(), absl::StatusCode::kResourceExhausted);

  limits = ParseLimits{};
  limits.max_records = 3;
  auto many = ParseCtl(f.bytes, "CTLFile.tlv", limits);
  EXPECT_EQ(many.status().code(), absl::StatusCode::kResourceExhausted) << many.status();
  EXPECT_TRUE(Contains(std::string(many.status().message()), "record 4"));
  limits.max_records = 4;
  EXPECT_TRUE(ParseCtl(f.bytes, "CTLFile.tlv", limits).ok());
}

TEST(CtlTest, LengthsPastTheEndAreRefused) {
  const b::Cluster& c = Pki();
  const b::BuiltFile f = b::BuildCtl(c, c.sast1);
  const size_t last = f.record_offsets.back();
  const size_t size = f.bytes.size();
  {  // The last record's DNSNAME (its first TLV) claims more than the record holds.
    std::vector<uint8_t> bad = f.bytes;
    PutU16(bad, last + 6, 0xffff);
    const auto st = ParseCtl(bad, "CTLFile.tlv").status();
    EXPECT_EQ(st.message(), "CTLFile.tlv: record 4 at offset " + std::to_string(last) +
                                ": tag 2 (DNSNAME) at offset " + std::to_string(last + 5) +
                                " length 65535 runs past the end of the record (ends at " +
                                std::to_string(size) + ")");
  }
  {  // The last record's RECORDLENGTH claims more than the file holds.
    std::vector<uint8_t> bad = f.bytes;
    PutU16(bad, last + 3, static_cast<uint16_t>(size - last + 1));
    const auto st = ParseCtl(bad, "CTLFile.tlv").status();
    EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument);
    EXPECT_TRUE(Contains(std::string(st.message()), "RECORDLENGTH"));
    EXPECT_TRUE(Contains(std::string(st.message()), "runs past the end of the file"));
  }
  {  // RECORDLENGTH smaller than its own TLV.
    std::vector<uint8_t> bad = f.bytes;
    PutU16(bad, last + 3, 4);
    EXPECT_TRUE(Contains(std::string(ParseCtl(bad, "CTLFile.tlv").status().message()),
                         "less than the 5 bytes"));
  }
  {  // HEADERLENGTH past the end of the file.
    std::vector<uint8_t> bad = f.bytes;
    ASSERT_LT(size, 0xffffu);
    PutU16(bad, 8, 0xffff);
    EXPECT_TRUE(Contains(std::string(ParseCtl(bad, "CTLFile.tlv").status().message()),
                         "HEADERLENGTH (tag 2 at offset 5) is 65535"));
  }
  {  // SIGNERID, the container at offset 10, claims more than the header holds.
    std::vector<uint8_t> bad = f.bytes;
    ASSERT_EQ(bad[10], header_tag::kSignerId);
    PutU16(bad, 11, 0xffff);
    EXPECT_TRUE(Contains(std::string(ParseCtl(bad, "CTLFile.tlv").status().message()),
                         "tag 3 (SIGNERID) at offset 10 length 65535 runs past the end of the "
                         "header as HEADERLENGTH gives it"));
  }
  {  // SERIALNUMBER inside SIGNERID claims more than SIGNERID holds.
    std::vector<uint8_t> bad = f.bytes;
    const size_t serial = Find(bad, {header_tag::kSerialNumber, 0, 10, 0xBD, 0xA3});
    PutU16(bad, serial + 1, 200);
    EXPECT_TRUE(Contains(std::string(ParseCtl(bad, "CTLFile.tlv").status().message()),
                         "runs past the end of SIGNERID"));
  }
}

TEST(CtlTest, UnknownTagsAreSkippedAndStillSigned) {
  const b::Cluster& c = Pki();
  b::HeaderSpec h = b::HeaderFor(c.sast1);
  h.signer_version = std::array<uint8_t, 2>{1, 1};  // certutils' tag 28
  h.extra = {{99, {1, 2, 3}}};
  std::vector<b::RecordSpec> records = b::CtlRecords(c);
  records[2].extra = {{77, {0xde, 0xad}}};
  const b::BuiltFile f = b::Build(h, records, c.sast1.key.get());
  auto ctl = ParseCtl(f.bytes, "CTLFile.tlv");
  ASSERT_TRUE(ctl.ok()) << ctl.status();
  EXPECT_EQ(ctl->header.signer_version, (std::array<uint8_t, 2>{1, 1}));
  ASSERT_EQ(ctl->header.unknown.size(), 1u);
  EXPECT_EQ(ctl->header.unknown[0].tag, 99);
  EXPECT_EQ(ctl->header.unknown[0].length, 3);
  EXPECT_EQ(f.bytes[ctl->header.unknown[0].offset], 99);
  ASSERT_EQ(ctl->records[2].unknown.size(), 1u);
  EXPECT_EQ(ctl->records[2].unknown[0].tag, 77);
  EXPECT_TRUE(IsCert(ctl->records[2], c.callmanager));  // known tags around it still read
  EXPECT_TRUE(Verify(*ctl, f.bytes, c.sast1.cert.get()).ok());
  const std::string text = FormatCtl(*ctl);
  EXPECT_TRUE(Contains(text, "28\tSIGNERVERSION\t2\t1.1\n"));
  EXPECT_TRUE(Contains(text, "99\tUNKNOWN\t3\t(at offset "));
  EXPECT_TRUE(Contains(text, "77\tUNKNOWN\t2\t(at offset "));
}

TEST(CtlTest, PrintedFingerprintIsOpensslSha1Fingerprint) {
  const b::Cluster& c = Pki();
  const b::BuiltFile f = b::BuildItl(c, c.itl_recovery);  // CUCM 12.0+: ITLRecovery signs
  auto ctl = ParseCtl(f.bytes, "ITLFile.tlv");
  ASSERT_TRUE(ctl.ok()) << ctl.status();
  const std::string text = FormatCtl(*ctl);
  size_t checked = 0;
  for (const CtlRecord& r : ctl->records) {
    ASSERT_TRUE(r.certificate);
    const unsigned char* p = r.certificate->data();
    UniqueX509 x(d2i_X509(nullptr, &p, static_cast<long>(r.certificate->size())));
    ASSERT_TRUE(x);
    const std::string fp = OpensslFingerprint(x.get());
    EXPECT_EQ(Spaced(r.certificate_sha1.data(), 20), fp);
    EXPECT_TRUE(Contains(text, "9\tCERTIFICATE\t" + std::to_string(r.certificate->size()) + "\t" +
                                   fp + " (SHA1 Hash HEX)\n"));
    ++checked;
  }
  EXPECT_EQ(checked, 5u);
  EXPECT_TRUE(Contains(text, "\nThe ITL file was not verified"));
}

TEST(CtlTest, StoredCertificateHashMustMatch) {
  const b::Cluster& c = Pki();
  b::RecordSpec capf = b::WithHash(b::RecordFor(c.capf, role::kCapf), false);
  (*capf.certificate_hash)[0] ^= 0x01;
  b::BuiltFile f = b::Build(b::HeaderFor(c.sast1), {b::RecordFor(c.sast1, role::kSast), capf},
                            c.sast1.key.get());
  auto st = ParseCtl(f.bytes, "CTLFile.tlv").status();
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(Contains(std::string(st.message()), "record 2 at offset"));
  EXPECT_TRUE(Contains(std::string(st.message()), "is not the SHA-1 of the CERTIFICATE"));

  // A hash next to a certificate that cannot be checked (unknown algorithm) is refused too.
  capf = b::WithHash(b::RecordFor(c.capf, role::kCapf), false);
  capf.hash_algorithm = 9;
  f = b::Build(b::HeaderFor(c.sast1), {b::RecordFor(c.sast1, role::kSast), capf},
               c.sast1.key.get());
  st = ParseCtl(f.bytes, "CTLFile.tlv").status();
  EXPECT_TRUE(Contains(std::string(st.message()), "cannot be checked"));

  // A hash without a certificate (seed 004's ITL CAPF record) is shown as stored.
  capf = b::WithHash(b::RecordFor(c.capf, role::kCapf), true);
  (*capf.certificate_hash)[0] ^= 0x01;  // nothing to check it against
  f = b::Build(b::HeaderFor(c.sast1), {b::RecordFor(c.sast1, role::kSast), capf},
               c.sast1.key.get());
  auto ctl = ParseCtl(f.bytes, "CTLFile.tlv");
  ASSERT_TRUE(ctl.ok()) << ctl.status();
  EXPECT_TRUE(Contains(FormatCtl(*ctl), "11\tCERTHASH\t20\t" +
                                            Spaced(capf.certificate_hash->data(), 20) + "\n"));
  EXPECT_TRUE(CertificatesForImport(*ctl).capf_trust.empty());
}

TEST(CtlTest, DigestAndSignatureAlgorithmCodes) {
  const b::Cluster& c = Pki();
  for (uint8_t code : {digest_code::kSha256, digest_code::kSha512}) {
    const b::BuiltFile f = b::BuildCtl(c, c.sast1, code);
    auto ctl = ParseCtl(f.bytes, "CTLFile.tlv");
    ASSERT_TRUE(ctl.ok()) << ctl.status();
    const absl::Status st = Verify(*ctl, f.bytes, c.sast1.cert.get());
    EXPECT_TRUE(st.ok()) << unsigned{code} << ": " << st;
    EXPECT_TRUE(Contains(FormatCtl(*ctl, st),
                         code == digest_code::kSha512 ? "\tSHA-512\n" : "\tSHA-256\n"));
  }
  auto refused = [&](const b::HeaderSpec& h, const std::string& why) {
    const b::BuiltFile f = b::Build(h, b::CtlRecords(c), c.sast1.key.get());
    auto ctl = ParseCtl(f.bytes, "CTLFile.tlv");
    ASSERT_TRUE(ctl.ok()) << ctl.status();
    const absl::Status st = Verify(*ctl, f.bytes, c.sast1.cert.get());
    EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument) << st;
    EXPECT_TRUE(Contains(std::string(st.message()), why));
  };
  b::HeaderSpec h = b::HeaderFor(c.sast1);
  h.digest_code = 9;
  refused(h, "DIGESTALGORTITHM (tag 8) is 9, not a known digest");
  h = b::HeaderFor(c.sast1);
  h.digest_code.reset();
  refused(h, "no DIGESTALGORTITHM (tag 8)");
  h = b::HeaderFor(c.sast1);
  h.signature_algorithm = 1;
  refused(h, "only 0 (RSA) is known");
  h = b::HeaderFor(c.sast1);
  h.signature_algorithm.reset();
  refused(h, "no SIGNATUREALGORTITHM (tag 10)");
  h = b::HeaderFor(c.sast1);
  h.modulus_code = 1;  // says 1024 bits, the signature is 256 bytes
  refused(h, "SIGNATUREMODULUS (tag 11) says 1024-bit keys");
  h = b::HeaderFor(c.sast1);
  h.modulus_code = 7;
  refused(h, "SIGNATUREMODULUS (tag 11) is 7");

  // Without tag 11 the key decides the signature's size.
  h = b::HeaderFor(c.sast1);
  h.write_modulus = false;
  {
    const b::BuiltFile f = b::Build(h, b::CtlRecords(c), c.sast1.key.get());
    auto ctl = ParseCtl(f.bytes, "CTLFile.tlv");
    ASSERT_TRUE(ctl.ok()) << ctl.status();
    EXPECT_TRUE(Verify(*ctl, f.bytes, c.sast1.cert.get()).ok());
  }

  // The header's digest is the one used: signed with SHA-1 over bytes that say SHA-256 fails.
  {
    b::BuiltFile f = b::BuildCtl(c, c.sast1);
    const size_t at = Find(f.bytes, {header_tag::kDigestAlgorithm, 0, 1, digest_code::kSha1});
    f.bytes[at + 3] = digest_code::kSha256;
    b::Sign(f.bytes, f.signature_offset, c.sast1.key.get(), digest_code::kSha1);
    auto ctl = ParseCtl(f.bytes, "CTLFile.tlv");
    ASSERT_TRUE(ctl.ok()) << ctl.status();
    EXPECT_EQ(Verify(*ctl, f.bytes, c.sast1.cert.get()).code(),
              absl::StatusCode::kUnauthenticated);
  }
}

TEST(CtlTest, HeaderStructureRules) {
  const b::Cluster& c = Pki();
  // A header with no records parses and verifies (§1: records follow to the end of the file).
  const b::BuiltFile f = b::Build(b::HeaderFor(c.sast1), {}, c.sast1.key.get());
  {
    auto ctl = ParseCtl(f.bytes, "CTLFile.tlv");
    ASSERT_TRUE(ctl.ok()) << ctl.status();
    EXPECT_TRUE(ctl->records.empty());
    EXPECT_TRUE(Verify(*ctl, f.bytes, c.sast1.cert.get()).ok());
    b::HeaderSpec unpadded = b::HeaderFor(c.sast1);
    unpadded.pad_to_4 = false;
    const size_t bare = b::Build(unpadded, {}, c.sast1.key.get()).header_length;
    EXPECT_EQ(ctl->header.padding_bytes, f.header_length - bare);
  }
  auto message = [](const std::vector<uint8_t>& bytes) {
    return std::string(ParseCtl(bytes, "CTLFile.tlv").status().message());
  };
  std::vector<uint8_t> bad = f.bytes;
  bad[0] = header_tag::kHeaderLength;
  EXPECT_TRUE(Contains(message(bad), "starts with VERSION"));
  bad = f.bytes;
  bad[5] = header_tag::kSignerId;
  EXPECT_TRUE(Contains(message(bad), "followed by HEADERLENGTH"));
  bad = f.bytes;
  PutU16(bad, 8, 9);
  EXPECT_TRUE(Contains(message(bad), "less than the 10 bytes"));
  // Tag 12 missing: renamed to an unknown tag, it is skipped and nothing signs the file.
  bad = f.bytes;
  bad[f.signature_offset] = 99;
  EXPECT_TRUE(Contains(message(bad), "no SIGNATURE (tag 12)"));
  // Tag 12 twice.
  b::HeaderSpec h = b::HeaderFor(c.sast1);
  h.extra = {{header_tag::kSignature, std::vector<uint8_t>(256, 0)}};
  EXPECT_TRUE(Contains(message(b::Build(h, {}, c.sast1.key.get()).bytes),
                       "tag 12 (SIGNATURE) at offset "));
  EXPECT_TRUE(Contains(message(b::Build(h, {}, c.sast1.key.get()).bytes), "repeats the one at"));
  // HEADERLENGTH one short of the header's TLVs (no padding to absorb it).
  h = b::HeaderFor(c.sast1);
  h.pad_to_4 = false;
  bad = b::Build(h, {}, c.sast1.key.get()).bytes;
  PutU16(bad, 8, static_cast<uint16_t>(bad.size() - 1));
  EXPECT_TRUE(Contains(message(bad), "tag 15 (TIMESTAMP)"));
  EXPECT_TRUE(Contains(message(bad), "runs past the end of the header as HEADERLENGTH gives it"));
  // HEADERLENGTH reaching into the records: the first record's RECORDLENGTH is read as a header
  // TLV and repeats VERSION (tag 1).
  const b::BuiltFile g = b::BuildCtl(c, c.sast1);
  bad = g.bytes;
  PutU16(bad, 8, static_cast<uint16_t>(g.header_length + 5));
  EXPECT_TRUE(Contains(message(bad), "tag 1 (VERSION) at offset " +
                                         std::to_string(g.header_length) +
                                         " repeats the one at offset 0"));
}

TEST(CtlTest, RecordStructureRules) {
  const b::Cluster& c = Pki();
  const b::BuiltFile f = b::BuildCtl(c, c.sast1);
  const size_t last = f.record_offsets.back();
  auto message = [](const std::vector<uint8_t>& bytes) {
    return std::string(ParseCtl(bytes, "CTLFile.tlv").status().message());
  };
  {  // Two bytes inside the record after its last TLV: too few for a TLV (re-signed, so only the
     // structure is wrong).
    std::vector<uint8_t> bad = f.bytes;
    bad.push_back(0xAA);
    bad.push_back(0xBB);
    PutU16(bad, last + 3, static_cast<uint16_t>(bad.size() - last));
    b::Sign(bad, f.signature_offset, c.sast1.key.get(), digest_code::kSha1);
    const std::string m = message(bad);
    EXPECT_TRUE(Contains(m, "record 4 at offset " + std::to_string(last)));
    EXPECT_TRUE(Contains(m, "only 2 byte(s) left before the end of the record"));
  }
  {  // Three bytes after the last record: not a record.
    std::vector<uint8_t> bad = f.bytes;
    bad.insert(bad.end(), {1, 0, 2});
    EXPECT_TRUE(Contains(message(bad), "record 5 at offset " + std::to_string(f.bytes.size()) +
                                           ": only 3 byte(s) left"));
  }
  {  // A record that does not start with RECORDLENGTH.
    std::vector<uint8_t> bad = f.bytes;
    bad[last] = record_tag::kDnsName;
    EXPECT_TRUE(Contains(message(bad), "a record starts with RECORDLENGTH"));
  }
  {  // A CERTIFICATE that is not DER.
    std::vector<uint8_t> bad = f.bytes;
    const size_t cert = Find(bad, c.capf.der);
    bad[cert] = 0x31;  // SET instead of SEQUENCE
    EXPECT_TRUE(Contains(message(bad), "is not one DER X.509 certificate"));
  }
  {  // A known record tag twice.
    std::vector<b::RecordSpec> records = b::CtlRecords(c);
    records[1].extra = {{record_tag::kCertificate, c.sast1.der}};
    const std::string m =
        message(b::Build(b::HeaderFor(c.sast1), records, c.sast1.key.get()).bytes);
    EXPECT_TRUE(Contains(m, "record 2 at offset"));
    EXPECT_TRUE(Contains(m, "tag 9 (CERTIFICATE)"));
    EXPECT_TRUE(Contains(m, "repeats the one at offset"));
  }
  {  // FUNCTION of the wrong size.
    std::vector<b::RecordSpec> records = b::CtlRecords(c);
    records[0].function.reset();
    records[0].extra = {{record_tag::kFunction, {0}}};
    EXPECT_TRUE(Contains(message(b::Build(b::HeaderFor(c.sast1), records, c.sast1.key.get()).bytes),
                         "tag 4 (FUNCTION) at offset"));
  }
}

TEST(CtlTest, VerifyNeedsTheParsedBytesAndASigner) {
  const b::Cluster& c = Pki();
  const b::BuiltFile f = b::BuildCtl(c, c.sast1);
  auto ctl = ParseCtl(f.bytes, "CTLFile.tlv");
  ASSERT_TRUE(ctl.ok()) << ctl.status();
  std::vector<uint8_t> other = f.bytes;
  other[f.signature_offset + 3] ^= 0x80;
  EXPECT_EQ(Verify(*ctl, other, c.sast1.cert.get()).code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(Verify(*ctl, f.bytes, nullptr).code(), absl::StatusCode::kInvalidArgument);
}

TEST(CtlTest, PrinterEscapesWhatTheFileSays) {
  const b::Cluster& c = Pki();
  b::RecordSpec r = b::RecordFor(c.sast2, role::kSast);
  r.subject = std::string("CN=evil\x1b[2J\n;O=x");
  const b::BuiltFile f =
      b::Build(b::HeaderFor(c.sast1), {b::RecordFor(c.sast1, role::kSast), r}, c.sast1.key.get());
  auto ctl = ParseCtl(f.bytes, "CTLFile.tlv");
  ASSERT_TRUE(ctl.ok()) << ctl.status();
  const std::string text = FormatCtl(*ctl);
  EXPECT_TRUE(Contains(text, "3\tSUBJECTNAME\t17\tCN=evil\\x1b[2J\\x0a;O=x\n"));
  EXPECT_EQ(text.find('\x1b'), std::string::npos);
}

// CTL-FORMAT.md gives no hex dump, but it gives Cisco's byte counts (§2, §3): the eToken-signed
// header of seed 004 (SIGNERNAME 56, SERIALNUMBER 10, CANAME 42 -> SIGNERID 117, 301 bytes of TLVs,
// HEADERLENGTH 304) and TAC 118892's non-secure CCM+TFTP stub (33 bytes). This file is written out
// by hand to those counts, in CUCM's tag order. The texts are seed 004's (its SIGNERNAME is shown
// cut at a comma; the 56-byte length asks for 7 more characters, here ", Inc.\""); the signature
// is filler (0x5a): this checks the reading of every byte, not a signature.
const char kCucmByteCounts[] =
    "010002 0102"                    // VERSION 1.2
    "020002 0130"                    // HEADERLENGTH 304
    "030075"                         // SIGNERID 117
    "040038"                         //   SIGNERNAME 56
    "636e3d22534153542d41444e346533316639313420223b6f753d49504342553b6f3d2243"
    "6973636f2053797374656d732c20496e632e2200"
    "05000a bda302000000d888641f"    //   SERIALNUMBER 10
    "06002a"                         //   CANAME 42
    "636e3d436973636f204d616e75666163747572696e672043413b6f3d436973636f2053"
    "797374656d7300"
    "07000f"                         // SIGNATUREINFO 15
    "080001 01"                      //   DIGESTALGORTITHM SHA-1
    "090008"                         //   SIGNATUREALGOINFO 8
    "0a0001 00"                      //     SIGNATUREALGORTITHM RSA
    "0b0001 01"                      //     SIGNATUREMODULUS 1024 bits
    "0c0080"                         // SIGNATURE 128
    "5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a"
    "5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a"
    "5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a"
    "5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a"
    "0e000c 43544c46696c652e746c7600"  // FILENAME "CTLFile.tlv"
    "0f0004 4e5e6f23"                // TIMESTAMP 1314811683
    "0d0d0d"                         // padding to 304
    "010002 0021"                    // record 1: RECORDLENGTH 33
    "02000d 31302e34382e34372e31353300"  // DNSNAME "10.48.47.153"
    "040002 0002"                    // FUNCTION CCM+TFTP
    "0a0004 0a302f99";               // IPADDRESS 10.48.47.153

TEST(CtlTest, CiscoByteCountsParseByteForByte) {
  const std::vector<uint8_t> file = FromHex(kCucmByteCounts);
  ASSERT_EQ(file.size(), 337u);
  auto ctl = ParseCtl(file, "CTLFile.tlv");
  ASSERT_TRUE(ctl.ok()) << ctl.status();
  const CtlHeader& h = ctl->header;
  EXPECT_EQ(h.header_length, 304);
  EXPECT_EQ(h.signer_id_length, 117);
  EXPECT_EQ(h.signer_name->length, 56);
  EXPECT_EQ(h.signer_name->text, "cn=\"SAST-ADN4e31f914 \";ou=IPCBU;o=\"Cisco Systems, Inc.\"");
  EXPECT_EQ(*h.signer_serial,
            (std::vector<uint8_t>{0xBD, 0xA3, 0x02, 0x00, 0x00, 0x00, 0xD8, 0x88, 0x64, 0x1F}));
  EXPECT_EQ(h.ca_name->text, "cn=Cisco Manufacturing CA;o=Cisco Systems");
  EXPECT_EQ(h.signature_info_length, 15);
  EXPECT_EQ(h.signature_algo_info_length, 8);
  EXPECT_EQ(h.digest_code, digest_code::kSha1);
  EXPECT_EQ(h.signature_algorithm, 0);
  EXPECT_EQ(h.modulus_code, 1);
  EXPECT_EQ(h.signature_offset, 148u);
  EXPECT_EQ(h.signature, std::vector<uint8_t>(128, 0x5a));
  EXPECT_EQ(h.file_name->text, "CTLFile.tlv");
  EXPECT_EQ(h.timestamp, 1314811683u);
  EXPECT_EQ(h.padding_bytes, 3u);
  ASSERT_EQ(ctl->records.size(), 1u);
  const CtlRecord& r = ctl->records[0];
  EXPECT_EQ(r.offset, 304u);
  EXPECT_EQ(r.length, 33);
  EXPECT_EQ(r.dns_name->text, "10.48.47.153");
  EXPECT_EQ(r.function, role::kCcmTftp);
  EXPECT_EQ(r.ip_address, (std::vector<uint8_t>{10, 48, 47, 153}));
  EXPECT_FALSE(r.certificate);

  const std::string text = FormatCtl(*ctl);
  for (const char* row : {
           "Length of CTL file: 337\n",
           "HeaderLength: 304 (BYTES)\n",
           "3\tSIGNERID\t2\t117\n",
           "4\tSIGNERNAME\t56\tcn=\"SAST-ADN4e31f914 \";ou=IPCBU;o=\"Cisco Systems, Inc.\"\n",
           "5\tSERIALNUMBER\t10\tBD:A3:02:00:00:00:D8:88:64:1F\n",
           "6\tCANAME\t42\tcn=Cisco Manufacturing CA;o=Cisco Systems\n",
           "7\tSIGNATUREINFO\t2\t15\n",
           "8\tDIGESTALGORTITHM\t1\tSHA-1\n",
           "9\tSIGNATUREALGOINFO\t2\t8\n",
           "11\tSIGNATUREMODULUS\t1\t1024 bits\n",
           "12\tSIGNATURE\t128\t\n",
           "14\tFILENAME\t12\tCTLFile.tlv\n",
           "15\tTIMESTAMP\t4\tWed Aug 31 17:28:03 UTC 2011 (1314811683)\n",
           "CTL Record #:1\n",
           "1\tRECORDLENGTH\t2\t33\n",
           "2\tDNSNAME\t13\t10.48.47.153\n",
           "4\tFUNCTION\t2\tCCM+TFTP\n",
           "10\tIPADDRESS\t4\t10.48.47.153\n",
       }) {
    EXPECT_TRUE(Contains(text, row));
  }

  // No SAST record: nothing in the file can be its signer. The token with this serial is not the
  // key that made this (filler) signature: its 2048-bit key makes 256-byte signatures.
  EXPECT_EQ(FindTrustedSigner(*ctl, [](const CtlRecord&) { return true; }).status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(Verify(*ctl, file, Pki().sast1.cert.get()).code(), absl::StatusCode::kUnauthenticated);

  // Errors name the file, the record, the offset and the tag.
  std::vector<uint8_t> bad = file;
  PutU16(bad, 326, 300);  // FUNCTION's length
  EXPECT_EQ(ParseCtl(bad, "CTLFile.tlv").status().message(),
            "CTLFile.tlv: record 1 at offset 304: tag 4 (FUNCTION) at offset 325 length 300 runs "
            "past the end of the record (ends at 337)");
  bad = file;
  PutU16(bad, 8, 300);  // HEADERLENGTH short of the TLVs
  EXPECT_EQ(ParseCtl(bad, "CTLFile.tlv").status().message(),
            "CTLFile.tlv: header: tag 15 (TIMESTAMP) at offset 294 length 4 runs past the end of "
            "the header as HEADERLENGTH gives it (ends at 300)");
}

}  // namespace
}  // namespace mpswitch::control::trust
