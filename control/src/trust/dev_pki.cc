#include "mpswitch/control/trust/dev_pki.h"
#include "text.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <ftw.h>
#include <limits.h>
#include <netinet/in.h>
#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"

namespace mpswitch::control::trust {
namespace {

constexpr std::string_view kTempPrefix = ".dev-pki-new.";
constexpr std::string_view kCaSubject = "CN=CAPF-mpswitch-dev,OU=development only,O=mpswitch";
constexpr std::string_view kLoopback = "127.0.0.1";

struct BnDeleter {
  void operator()(BIGNUM* b) const { BN_free(b); }
};


bool Exists(const std::string& path) {
  struct stat st;
  return ::lstat(path.c_str(), &st) == 0;
}

bool IsDirectory(const std::string& path) {
  struct stat st;
  return ::lstat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

int RemoveEntry(const char* path, const struct stat* /*st*/, int /*type*/, struct FTW* /*ftw*/) {
  ::remove(path);
  return 0;  // best effort: go on with the rest
}

// rm -rf of a directory this code made (never follows links: FTW_PHYS).
void RemoveTree(const std::string& path) {
  ::nftw(path.c_str(), RemoveEntry, 16, FTW_DEPTH | FTW_PHYS);
}

// Temporary directories of runs that died before they could clean up.
void RemoveStaleTemps(const std::string& dir) {
  std::vector<std::string> stale;
  if (DIR* d = ::opendir(dir.c_str())) {
    while (const dirent* e = ::readdir(d)) {
      const std::string_view name = e->d_name;
      if (text::StartsWith(name, kTempPrefix)) stale.push_back(text::Cat(dir, "/", name));
    }
    ::closedir(d);
  }
  for (const std::string& s : stale) RemoveTree(s);
}

// Every entry InitDevelopmentPki puts into DIR, in the order it renames them (markers apart).
std::vector<std::string> Entries() {
  std::vector<std::string> e = {"capf-ca.key", "capf-ca.pem", "lsc.key", "lsc.pem",
                                "lsc-chain.pem"};
  for (int n = 0; n < kDevPkiCucmNodes; ++n) {
    e.push_back(absl::StrFormat("cucm%d.key", n));
    e.push_back(absl::StrFormat("cucm%d.pem", n));
  }
  e.push_back("trust");
  e.push_back("mpswitch.toml");
  return e;
}

absl::Status AddExtension(X509* x, X509V3_CTX* ctx, int nid, const std::string& value) {
  ERR_clear_error();
  X509_EXTENSION* ext = X509V3_EXT_nconf_nid(nullptr, ctx, nid, value.c_str());
  if (ext == nullptr) {
    return absl::InvalidArgumentError(absl::StrFormat("cannot make the %s extension \"%s\": %s",
                                                      OBJ_nid2sn(nid), value, OpenSslError()));
  }
  const int ok = X509_add_ext(x, ext, -1);
  X509_EXTENSION_free(ext);
  if (ok != 1) {
    return absl::InternalError(
        absl::StrFormat("cannot add the %s extension: %s", OBJ_nid2sn(nid), OpenSslError()));
  }
  return absl::OkStatus();
}

bool ValidDnsName(std::string_view s) {
  if (s.empty() || s.size() > 253) return false;
  for (const char c : s) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '.' && c != '*') {
      return false;
    }
  }
  return true;
}

bool ValidIp(const std::string& s) {
  in6_addr a6;
  in_addr a4;
  return ::inet_pton(AF_INET, s.c_str(), &a4) == 1 || ::inet_pton(AF_INET6, s.c_str(), &a6) == 1;
}

absl::Status SetTime(ASN1_TIME* field, absl::Time t) {
  if (ASN1_TIME_set(field, absl::ToTimeT(t)) == nullptr) {
    return absl::InternalError(text::Cat("cannot set a validity time: ", OpenSslError()));
  }
  return absl::OkStatus();
}

absl::Status WriteKey(const std::string& path, EVP_PKEY* key) {
  absl::StatusOr<std::string> pem = PrivateKeyToPem(key);
  if (!pem.ok()) return pem.status();
  absl::Status s = WriteFileAtomic(path, *pem, 0600, /*replace_existing=*/false);
  OPENSSL_cleanse(pem->data(), pem->size());
  return s;
}

absl::Status WriteCert(const std::string& path, X509* cert) {
  const std::string pem = CertificateToPem(cert);
  if (pem.empty()) return absl::InternalError(text::Cat("cannot encode ", path, " as PEM"));
  return WriteFileAtomic(path, pem, 0644, /*replace_existing=*/false);
}

// A TOML basic string.
std::string TomlString(std::string_view s) {
  std::string out = "\"";
  for (const char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    if (c == '"') {
      out += "\\\"";
    } else if (c == '\\') {
      out += "\\\\";
    } else if (c < 0x20 || c == 0x7f) {
      out += absl::StrFormat("\\u%04X", c);
    } else {
      out += ch;
    }
  }
  out += '"';
  return out;
}

std::string ConfigText(const std::string& dir) {
  std::string t = absl::StrFormat(
      "# mpswitch.toml written by `mpswitch pki init` on %s.\n"
      "#\n"
      "# DEVELOPMENT ONLY. Every credential named here was issued by a throw-away CA\n"
      "# (capf-ca.pem and its key capf-ca.key, next to this file) for a switch and its\n"
      "# peers on 127.0.0.1. In production the LSC comes from the call-control cluster's CAPF\n"
      "# (`mpswitch lsc request`, `mpswitch lsc install`) and the trust units hold that\n"
      "# cluster's certificates (`mpswitch cert upload`).\n"
      "#\n"
      "# The switch listens for SIP over TLS on 127.0.0.1:%d and presents its LSC, subject\n"
      "# CN=mpswitch: the X.509 Subject Name a SIP trunk security profile would match. The %d\n"
      "# call-control nodes cucm0..cucm%d run on the same host, so each needs a port of its own\n"
      "# besides the switch's %d: cucmN listens on %d+N (ports %d..%d). Their certificates\n"
      "# (cucmN.pem, subject CN=cucmN) are in trust/CTM-trust, the CA in trust/CAPF-trust.\n"
      "\n"
      "[tls]\n"
      "lsc_key = %s\n"
      "lsc_cert = %s\n"
      "lsc_chain = %s\n"
      "trust_dir = %s\n"
      "\n"
      "[sip]\n"
      "listen_tls = [%s]\n"
      "device_security_mode = \"encrypted\"\n",
      TimeText(absl::Now()), kDevPkiSwitchSipTlsPort, kDevPkiCucmNodes, kDevPkiCucmNodes - 1,
      kDevPkiSwitchSipTlsPort, kDevPkiFirstServerPort, kDevPkiFirstServerPort,
      kDevPkiFirstServerPort + kDevPkiCucmNodes - 1, TomlString(dir + "/lsc.key"),
      TomlString(dir + "/lsc.pem"), TomlString(dir + "/lsc-chain.pem"), TomlString(dir + "/trust"),
      TomlString(text::Cat(kLoopback, ":", kDevPkiSwitchSipTlsPort)));
  for (int n = 0; n < kDevPkiCucmNodes; ++n) {
    const std::string name = absl::StrFormat("cucm%d", n);
    text::Append(&t, "\n# ", name, ": SIP over TLS at ", kLoopback, ":",
                    kDevPkiFirstServerPort + n, " (", kDevPkiFirstServerPort, "+", n,
                    "); its certificate's subject CN must be ", name, ".\n", "[[sip.servers]]\n",
                    "name = ", TomlString(name), "\n", "host = ", TomlString(kLoopback), "\n",
                    "port = ", kDevPkiFirstServerPort + n, "\n", "transport = \"tls\"\n",
                    "subject = ", TomlString(name), "\n");
  }
  text::Append(&t, "\n[state]\ndir = ", TomlString(dir), "\n");
  return t;
}

// Makes every file of the PKI in `tmp`; the configuration names them as they will be in `dir`.
absl::Status Generate(const std::string& tmp, const std::string& dir,
                      const DevPkiOptions& options) {
  absl::StatusOr<EvpPkeyPtr> ca_key = GenerateKey(KeyType::kEcdsaP256);
  if (!ca_key.ok()) return ca_key.status();
  CertificateSpec ca_spec;
  ca_spec.subject = std::string(kCaSubject);
  ca_spec.ca = true;
  ca_spec.valid_for = options.ca_valid_for;
  absl::StatusOr<X509Ptr> ca = IssueCertificate(ca_spec, ca_key->get(), nullptr, nullptr);
  if (!ca.ok()) return ca.status();
  const std::string ca_pem = CertificateToPem(ca->get());
  if (absl::Status s = WriteKey(tmp + "/capf-ca.key", ca_key->get()); !s.ok()) return s;
  if (absl::Status s = WriteCert(tmp + "/capf-ca.pem", ca->get()); !s.ok()) return s;

  absl::StatusOr<EvpPkeyPtr> lsc_key = GenerateKey(KeyType::kEcdsaP256);
  if (!lsc_key.ok()) return lsc_key.status();
  CertificateSpec lsc_spec;
  lsc_spec.subject = "CN=mpswitch";
  lsc_spec.dns_names = {"mpswitch", "localhost"};
  lsc_spec.ip_addresses = {"127.0.0.1", "::1"};
  lsc_spec.server_auth = true;
  lsc_spec.client_auth = true;
  lsc_spec.valid_for = options.leaf_valid_for;
  absl::StatusOr<X509Ptr> lsc =
      IssueCertificate(lsc_spec, lsc_key->get(), ca->get(), ca_key->get());
  if (!lsc.ok()) return lsc.status();
  if (absl::Status s = WriteKey(tmp + "/lsc.key", lsc_key->get()); !s.ok()) return s;
  if (absl::Status s = WriteCert(tmp + "/lsc.pem", lsc->get()); !s.ok()) return s;
  if (absl::Status s = WriteFileAtomic(tmp + "/lsc-chain.pem", ca_pem, 0644, false); !s.ok()) {
    return s;
  }

  std::vector<std::string> cucm_pems;
  for (int n = 0; n < kDevPkiCucmNodes; ++n) {
    const std::string name = absl::StrFormat("cucm%d", n);
    absl::StatusOr<EvpPkeyPtr> key = GenerateKey(KeyType::kEcdsaP256);
    if (!key.ok()) return key.status();
    CertificateSpec spec;
    spec.subject = "CN=" + name;
    spec.dns_names = {name};
    spec.ip_addresses = {std::string(kLoopback)};
    spec.server_auth = true;
    spec.client_auth = true;
    spec.valid_for = options.leaf_valid_for;
    absl::StatusOr<X509Ptr> cert = IssueCertificate(spec, key->get(), ca->get(), ca_key->get());
    if (!cert.ok()) return cert.status();
    if (absl::Status s = WriteKey(text::Cat(tmp, "/", name, ".key"), key->get()); !s.ok()) {
      return s;
    }
    if (absl::Status s = WriteCert(text::Cat(tmp, "/", name, ".pem"), cert->get()); !s.ok()) {
      return s;
    }
    cucm_pems.push_back(CertificateToPem(cert->get()));
  }

  absl::StatusOr<TrustStore> trust = TrustStore::Open(tmp + "/trust", /*create=*/true);
  if (!trust.ok()) return trust.status();
  if (absl::StatusOr<CertificateRow> r =
          trust->Upload(TrustUnit::kCapfTrust, ca_pem, "capf-ca.pem");
      !r.ok()) {
    return r.status();
  }
  for (int n = 0; n < kDevPkiCucmNodes; ++n) {
    absl::StatusOr<CertificateRow> r =
        trust->Upload(TrustUnit::kCtmTrust, cucm_pems[n], absl::StrFormat("cucm%d.pem", n));
    if (!r.ok()) return r.status();
  }

  return WriteFileAtomic(tmp + "/mpswitch.toml", ConfigText(dir), 0644, false);
}

absl::Status Incomplete(const std::string& dir, const absl::Status& why) {
  return absl::Status(why.code(),
                      absl::StrFormat("the development PKI in %s is incomplete (%s); run `mpswitch "
                                      "pki init %s` again: it replaces the partial files",
                                      dir, why.message(), dir));
}

}  // namespace

absl::StatusOr<X509Ptr> IssueCertificate(const CertificateSpec& spec, EVP_PKEY* subject_key,
                                         X509* issuer, EVP_PKEY* issuer_key) {
  if (subject_key == nullptr || (issuer != nullptr && issuer_key == nullptr)) {
    return absl::InvalidArgumentError(
        "IssueCertificate needs the subject's key and, for an "
        "issued certificate, the issuer's key");
  }
  absl::StatusOr<X509NamePtr> subject = ParseSubject(spec.subject);
  if (!subject.ok()) return subject.status();
  std::vector<std::string> san;
  for (const std::string& d : spec.dns_names) {
    if (!ValidDnsName(d)) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "\"%s\" is not a DNS name for a certificate (letters, digits, '-', '.', '*')", d));
    }
    san.push_back("DNS:" + d);
  }
  for (const std::string& ip : spec.ip_addresses) {
    if (!ValidIp(ip)) {
      return absl::InvalidArgumentError(
          absl::StrFormat("\"%s\" is not an IPv4 or IPv6 address", ip));
    }
    san.push_back("IP:" + ip);
  }

  X509Ptr x(X509_new());
  if (!x) return absl::InternalError("out of memory making a certificate");
  ERR_clear_error();
  if (X509_set_version(x.get(), 2) != 1) {  // v3
    return absl::InternalError(text::Cat("cannot make a certificate: ", OpenSslError()));
  }
  unsigned char serial[16];
  if (RAND_bytes(serial, sizeof serial) != 1) {
    return absl::InternalError(text::Cat("no random serial: ", OpenSslError()));
  }
  serial[0] &= 0x7f;  // positive
  if (serial[0] == 0) serial[0] = 0x01;
  std::unique_ptr<BIGNUM, BnDeleter> bn(BN_bin2bn(serial, sizeof serial, nullptr));
  if (!bn || BN_to_ASN1_INTEGER(bn.get(), X509_get_serialNumber(x.get())) == nullptr) {
    return absl::InternalError(text::Cat("cannot set the serial: ", OpenSslError()));
  }
  const X509_NAME* issuer_name = issuer != nullptr ? X509_get_subject_name(issuer) : subject->get();
  if (X509_set_subject_name(x.get(), subject->get()) != 1 ||
      X509_set_issuer_name(x.get(), issuer_name) != 1 ||
      X509_set_pubkey(x.get(), subject_key) != 1) {
    return absl::InternalError(text::Cat("cannot make a certificate: ", OpenSslError()));
  }
  const absl::Time now = absl::Now();
  if (absl::Status s = SetTime(X509_getm_notBefore(x.get()), now - spec.backdate); !s.ok()) {
    return s;
  }
  if (absl::Status s = SetTime(X509_getm_notAfter(x.get()), now + spec.valid_for); !s.ok()) {
    return s;
  }

  X509V3_CTX ctx{};
  X509V3_set_ctx(&ctx, issuer != nullptr ? issuer : x.get(), x.get(), nullptr, nullptr, 0);
  std::vector<std::pair<int, std::string>> exts;
  if (spec.ca) {
    exts.emplace_back(NID_basic_constraints, "critical,CA:TRUE");
    exts.emplace_back(NID_key_usage, "critical,keyCertSign,cRLSign,digitalSignature");
  } else {
    exts.emplace_back(NID_basic_constraints, "critical,CA:FALSE");
    exts.emplace_back(NID_key_usage, EVP_PKEY_is_a(subject_key, "RSA")
                                         ? "critical,digitalSignature,keyEncipherment"
                                         : "critical,digitalSignature");
  }
  std::vector<std::string> eku;
  if (spec.server_auth) eku.push_back("serverAuth");
  if (spec.client_auth) eku.push_back("clientAuth");
  if (!eku.empty()) exts.emplace_back(NID_ext_key_usage, absl::StrJoin(eku, ","));
  if (!san.empty()) exts.emplace_back(NID_subject_alt_name, absl::StrJoin(san, ","));
  exts.emplace_back(NID_subject_key_identifier, "hash");
  if (issuer != nullptr) exts.emplace_back(NID_authority_key_identifier, "keyid");
  for (const auto& [nid, value] : exts) {
    if (absl::Status s = AddExtension(x.get(), &ctx, nid, value); !s.ok()) return s;
  }
  EVP_PKEY* signer = issuer != nullptr ? issuer_key : subject_key;
  if (X509_sign(x.get(), signer, EVP_sha256()) <= 0) {
    return absl::InternalError(text::Cat("cannot sign the certificate: ", OpenSslError()));
  }
  return x;
}

bool DevelopmentPkiComplete(const std::string& dir) {
  return Exists(text::Cat(dir, "/", kDevPkiCompleteMarker)) &&
         !Exists(text::Cat(dir, "/", kDevPkiPartialMarker));
}

absl::Status InitDevelopmentPki(const std::string& dir_arg, const DevPkiOptions& options) {
  if (dir_arg.empty()) {
    return absl::InvalidArgumentError(
        "no directory given; run `mpswitch pki init DIR` with the directory to create it in");
  }
  if (absl::Status s = MakeDirectories(dir_arg, 0700); !s.ok()) return s;
  char resolved[PATH_MAX];
  if (::realpath(dir_arg.c_str(), resolved) == nullptr) {
    const int err = errno;
    return text::ErrnoError(err, absl::StrFormat("cannot resolve %s: %s", dir_arg, std::strerror(err)));
  }
  const std::string dir = resolved;
  const std::string complete = text::Cat(dir, "/", kDevPkiCompleteMarker);
  const std::string partial = text::Cat(dir, "/", kDevPkiPartialMarker);
  const std::vector<std::string> entries = Entries();

  if (!options.force && !Exists(partial)) {
    // dev-pki.partial means the files are an interrupted run's leftovers: replaced freely.
    if (Exists(complete)) {
      return absl::AlreadyExistsError(absl::StrFormat(
          "%s already holds a development PKI (%s); pass --force to replace it (its keys, "
          "certificates, trust units and mpswitch.toml are all replaced)",
          dir, kDevPkiCompleteMarker));
    }
    for (const std::string& e : entries) {
      if (Exists(text::Cat(dir, "/", e))) {
        return absl::AlreadyExistsError(absl::StrFormat(
            "%s already holds %s, not made by `mpswitch pki init` (no %s); choose an empty "
            "directory, or pass --force to replace it",
            dir, e, kDevPkiCompleteMarker));
      }
    }
  }

  RemoveStaleTemps(dir);
  std::string tmp = text::Cat(dir, "/", kTempPrefix, "XXXXXX");
  if (::mkdtemp(tmp.data()) == nullptr) {  // mode 0700
    const int err = errno;
    return text::ErrnoError(err, absl::StrFormat("cannot create a directory in %s: %s; check that it is "
                                           "writable by this user",
                                           dir, std::strerror(err)));
  }
  absl::Status s = Generate(tmp, dir, options);
  if (s.ok() && options.fault_for_test) s = options.fault_for_test("generated");
  if (!s.ok()) {
    RemoveTree(tmp);
    return absl::Status(s.code(),
                        absl::StrFormat("no development PKI was made in %s: %s", dir, s.message()));
  }

  // From here on DIR changes: mark it as partial first, so no moment looks complete.
  s = WriteFileAtomic(partial,
                      "An interrupted `mpswitch pki init` left this directory incomplete; run it "
                      "again.\n",
                      0644, /*replace_existing=*/true);
  if (!s.ok()) {  // DIR is still as it was
    RemoveTree(tmp);
    return absl::Status(s.code(),
                        absl::StrFormat("no development PKI was made in %s: %s", dir, s.message()));
  }
  if (Exists(complete) && ::unlink(complete.c_str()) != 0) {
    const int err = errno;
    s = text::ErrnoError(err, absl::StrFormat("cannot remove %s: %s", complete, std::strerror(err)));
  }
  if (s.ok()) s = SyncDirectory(dir);
  if (!s.ok()) {
    RemoveTree(tmp);
    return Incomplete(dir, s);
  }
  for (const std::string& e : entries) {
    const std::string src = text::Cat(tmp, "/", e);
    const std::string dst = text::Cat(dir, "/", e);
    if (e == "trust" && IsDirectory(dst)) {
      // rename(2) cannot replace a non-empty directory: move the old one aside (into the
      // temporary directory, removed below).
      const std::string aside = text::Cat(tmp, "/trust.old");
      if (::rename(dst.c_str(), aside.c_str()) != 0) {
        const int err = errno;
        s = text::ErrnoError(
            err, absl::StrFormat("cannot move the old %s aside: %s", dst, std::strerror(err)));
        break;
      }
    }
    if (::rename(src.c_str(), dst.c_str()) != 0) {
      const int err = errno;
      s = text::ErrnoError(err,
                     absl::StrFormat("cannot rename %s to %s: %s", src, dst, std::strerror(err)));
      break;
    }
    if (options.fault_for_test) {
      s = options.fault_for_test(text::Cat("moved:", e));
      if (!s.ok()) break;
    }
  }
  if (s.ok()) s = SyncDirectory(dir);
  if (s.ok()) {
    s = WriteFileAtomic(
        complete,
        absl::StrFormat("mpswitch development PKI, complete, made %s\n", TimeText(absl::Now())),
        0644, /*replace_existing=*/true);
  }
  if (s.ok() && ::unlink(partial.c_str()) != 0) {
    const int err = errno;
    s = text::ErrnoError(err, absl::StrFormat("cannot remove %s: %s", partial, std::strerror(err)));
  }
  if (s.ok()) s = SyncDirectory(dir);
  RemoveTree(tmp);
  if (!s.ok()) return Incomplete(dir, s);
  return absl::OkStatus();
}

}  // namespace mpswitch::control::trust
