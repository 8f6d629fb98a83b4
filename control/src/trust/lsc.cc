#include "mpswitch/control/trust/lsc.h"
#include "text.h"

#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <openssl/asn1.h>
#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <string.h>  // strstr, used by OpenSSL's EVP_EC_gen macro
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace mpswitch::control::trust {
namespace {

constexpr size_t kMaxKeyFile = 64 * 1024;
constexpr size_t kMaxSubjectText = 1024;
constexpr std::string_view kCurrentLink = "lsc-current";
constexpr std::string_view kVersionPrefix = "lsc.v.";
constexpr std::array<std::string_view, 3> kLscFiles = {"lsc.key", "lsc.pem", "lsc-chain.pem"};

struct BioDeleter {
  void operator()(BIO* b) const { BIO_free(b); }
};
using BioPtr = std::unique_ptr<BIO, BioDeleter>;
struct X509ReqDeleter {
  void operator()(X509_REQ* r) const { X509_REQ_free(r); }
};
struct StoreCtxDeleter {
  void operator()(X509_STORE_CTX* c) const { X509_STORE_CTX_free(c); }
};
struct X509StackDeleter {
  // The stack only borrows its certificates: the vector that holds them frees them.
  void operator()(STACK_OF(X509) * s) const { sk_X509_free(s); }
};

// Wipes a string holding key material when it goes out of scope.
class Wipe {
 public:
  explicit Wipe(std::string& s) : s_(s) {}
  Wipe(const Wipe&) = delete;
  Wipe& operator=(const Wipe&) = delete;
  ~Wipe() { OPENSSL_cleanse(s_.data(), s_.size()); }

 private:
  std::string& s_;
};

// Never prompts: a key this code reads is unencrypted, and a daemon has no terminal.
int NoPassphrase(char* /*buf*/, int /*size*/, int /*rwflag*/, void* /*userdata*/) { return 0; }



bool Exists(const std::string& path) {
  struct stat st;
  return ::lstat(path.c_str(), &st) == 0;
}

// The target of a symbolic link, "" when `path` is not one.
std::string ReadLink(const std::string& path) {
  char buf[PATH_MAX];
  const ssize_t n = ::readlink(path.c_str(), buf, sizeof buf);
  if (n <= 0 || static_cast<size_t>(n) >= sizeof buf) return "";
  return std::string(buf, static_cast<size_t>(n));
}

std::string RandomHex(size_t bytes) {
  std::array<unsigned char, 16> b{};
  if (bytes > b.size()) bytes = b.size();
  if (RAND_bytes(b.data(), static_cast<int>(bytes)) != 1) {
    ERR_clear_error();
    // Only names a temporary link; uniqueness, not secrecy, matters.
    const unsigned long v = static_cast<unsigned long>(::getpid()) ^
                            static_cast<unsigned long>(reinterpret_cast<uintptr_t>(&b));
    std::memcpy(b.data(), &v, std::min(sizeof v, b.size()));
  }
  std::string s;
  for (size_t i = 0; i < bytes; ++i) s += absl::StrFormat("%02x", b[i]);
  return s;
}

// Points `link_path` at `target` atomically: a new link under a temporary name renamed over it.
absl::Status ReplaceSymlink(const std::string& target, const std::string& link_path) {
  std::string tmp;
  for (int attempt = 0;; ++attempt) {
    tmp = text::Cat(text::DirOf(link_path), "/.", text::BaseOf(link_path), ".tmp-", RandomHex(8));
    if (::symlink(target.c_str(), tmp.c_str()) == 0) break;
    const int err = errno;
    if (err == EEXIST && attempt < 8) continue;
    return text::ErrnoError(err, absl::StrFormat("cannot create a link in %s: %s; check that it is "
                                           "writable by this user",
                                           text::DirOf(link_path), std::strerror(err)));
  }
  if (::rename(tmp.c_str(), link_path.c_str()) != 0) {
    const int err = errno;
    ::unlink(tmp.c_str());
    return text::ErrnoError(err, absl::StrFormat("cannot replace %s: %s", link_path, std::strerror(err)));
  }
  return absl::OkStatus();
}

// Removes a directory this code made (lsc.v.*): its files, then itself. Best effort.
void RemoveFlatDir(const std::string& dir) {
  if (DIR* d = ::opendir(dir.c_str())) {
    while (const dirent* e = ::readdir(d)) {
      const std::string_view name = e->d_name;
      if (name == "." || name == "..") continue;
      ::unlink(text::Cat(dir, "/", name).c_str());
    }
    ::closedir(d);
  }
  ::rmdir(dir.c_str());
}

// One attribute a subject may carry: the name OpenSSL knows it by and its upper bound in
// characters (RFC 5280 appendix A; 0 = exactly two letters).
struct SubjectAttribute {
  std::string_view name;
  size_t max_chars;
};
constexpr SubjectAttribute kSubjectAttributes[] = {
    {"CN", 64},  {"O", 64}, {"OU", 64}, {"L", 128},
    {"ST", 128}, {"C", 0},  {"DC", 63}, {"serialNumber", 64},
};

const SubjectAttribute* FindAttribute(std::string_view key) {
  for (const SubjectAttribute& a : kSubjectAttributes) {
    if (text::EqualsIgnoreCase(a.name, key)) return &a;
  }
  return nullptr;
}

size_t Utf8Chars(std::string_view s) {
  size_t n = 0;
  for (const char c : s) n += (static_cast<unsigned char>(c) & 0xC0) != 0x80;
  return n;
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

absl::StatusOr<std::string> CsrToPem(X509_REQ* req) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (!bio || PEM_write_bio_X509_REQ(bio.get(), req) != 1) {
    return absl::InternalError(text::Cat("cannot encode the CSR: ", OpenSslError()));
  }
  char* data = nullptr;
  const long n = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, n > 0 ? static_cast<size_t>(n) : 0);
}

int64_t FloorDays(absl::Duration d) {
  const int64_t secs = absl::ToInt64Seconds(d);
  constexpr int64_t kDay = 86400;
  return secs >= 0 ? secs / kDay : -((-secs + kDay - 1) / kDay);
}

}  // namespace

absl::StatusOr<EvpPkeyPtr> GenerateKey(KeyType type) {
  ERR_clear_error();
  EVP_PKEY* key = type == KeyType::kRsa2048 ? EVP_RSA_gen(2048) : EVP_EC_gen("P-256");
  if (key == nullptr) {
    return absl::InternalError(
        absl::StrFormat("cannot generate a %s key: %s",
                        type == KeyType::kRsa2048 ? "RSA 2048" : "ECDSA P-256", OpenSslError()));
  }
  return EvpPkeyPtr(key);
}

absl::StatusOr<X509NamePtr> ParseSubject(std::string_view text) {
  const std::string shown = absl::CHexEscape(text::Absl(text.substr(0, 200)));
  auto bad = [&](size_t pos, std::string_view what) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "subject \"%s\": %s at character %d; write it as CN=name,O=organisation,OU=unit", shown,
        what, pos + 1));
  };
  if (text.size() > kMaxSubjectText) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "the subject is %d characters long, more than %d; give CN=name,O=organisation,OU=unit",
        text.size(), kMaxSubjectText));
  }
  const std::string_view stripped = text::Strip(text);
  if (stripped.empty()) {
    return absl::InvalidArgumentError(
        "the subject is empty; give it as CN=name,O=organisation,OU=unit (the CN is what call "
        "control's SIP trunk security profile will match)");
  }
  if (stripped.front() == '/') {
    return absl::InvalidArgumentError(absl::StrFormat(
        "subject \"%s\" is in OpenSSL's /CN=.../O=... form; write it as CN=...,O=...,OU=... "
        "(most specific first, separated by commas)",
        shown));
  }

  std::vector<std::pair<const SubjectAttribute*, std::string>> rdns;
  const size_t n = text.size();
  size_t i = 0;
  auto skip_spaces = [&] {
    while (i < n && text[i] == ' ') ++i;
  };
  for (;;) {
    skip_spaces();
    const size_t key_start = i;
    while (i < n && absl::ascii_isalnum(static_cast<unsigned char>(text[i]))) ++i;
    const std::string_view key = text.substr(key_start, i - key_start);
    if (key.empty()) {
      return bad(i, i < n ? absl::StrFormat("expected an attribute name such as CN, found '%s'",
                                            absl::CHexEscape(text::Absl(text.substr(i, 1))))
                          : std::string("expected an attribute name such as CN"));
    }
    skip_spaces();
    if (i >= n || text[i] != '=') return bad(i, absl::StrFormat("expected '=' after %s", key));
    ++i;
    const SubjectAttribute* attr = FindAttribute(key);
    if (attr == nullptr) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "subject \"%s\": unknown attribute \"%s\"; use CN, O, OU, L, ST, C, DC or "
          "serialNumber",
          shown, absl::CHexEscape(text::Absl(key))));
    }
    skip_spaces();
    const size_t value_start = i;
    std::string value;
    size_t keep = 0;  // the value without unescaped trailing spaces
    while (i < n && text[i] != ',') {
      const char c = text[i];
      if (c == '\\') {
        if (i + 1 >= n) return bad(i, "'\\' ends the text");
        const char d = text[i + 1];
        if (i + 2 < n && HexValue(d) >= 0 && HexValue(text[i + 2]) >= 0) {
          value.push_back(static_cast<char>(HexValue(d) * 16 + HexValue(text[i + 2])));
          i += 3;
        } else if (std::string_view(",+\"\\<>;= #").find(d) != std::string_view::npos) {
          value.push_back(d);
          i += 2;
        } else {
          return bad(i,
                     "'\\' must be followed by one of , + \" \\ < > ; = # space, or two hex "
                     "digits");
        }
        keep = value.size();
        continue;
      }
      if (c == '+') {
        return bad(i, "multi-valued names ('+') are not supported (write a literal plus as \\+)");
      }
      if (c == ';') return bad(i, "';' does not separate attributes here, use ','");
      if (c == '"' || c == '<' || c == '>') {
        return bad(i, absl::StrFormat("'%c' must be escaped as \\%c", c, c));
      }
      if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
        return bad(i, "a control character is not allowed");
      }
      value.push_back(c);
      ++i;
      if (c != ' ') keep = value.size();
    }
    value.resize(keep);
    if (value.empty()) {
      return bad(value_start, absl::StrFormat("%s has an empty value", attr->name));
    }
    for (const char c : value) {
      if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
        return bad(value_start,
                   absl::StrFormat("the value of %s holds a control character", attr->name));
      }
    }
    if (attr->max_chars == 0) {
      if (value.size() != 2 || !absl::ascii_isalpha(static_cast<unsigned char>(value[0])) ||
          !absl::ascii_isalpha(static_cast<unsigned char>(value[1]))) {
        return bad(value_start, "C must be a two-letter country code such as US");
      }
      value = absl::AsciiStrToUpper(value);
    } else if (Utf8Chars(value) > attr->max_chars) {
      return bad(value_start, absl::StrFormat("the value of %s is longer than %d characters",
                                              attr->name, attr->max_chars));
    }
    rdns.emplace_back(attr, std::move(value));
    if (i >= n) break;
    ++i;  // the ','
    skip_spaces();
    if (i >= n) return bad(i - 1, "nothing follows the last ','");
  }

  size_t cns = 0;
  for (const auto& rdn : rdns) cns += rdn.first->name == "CN";
  if (cns != 1) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "subject \"%s\" has %d CN attributes, it needs exactly one (the name call control's SIP "
        "trunk security profile matches); write it as CN=name,O=organisation,OU=unit",
        shown, cns));
  }

  X509NamePtr name(X509_NAME_new());
  if (!name) return absl::InternalError("out of memory making a subject");
  // RFC 2253 text is most specific first; the DER sequence is the reverse.
  for (auto it = rdns.rbegin(); it != rdns.rend(); ++it) {
    const std::string field(it->first->name);
    if (X509_NAME_add_entry_by_txt(name.get(), field.c_str(), MBSTRING_UTF8,
                                   reinterpret_cast<const unsigned char*>(it->second.data()),
                                   static_cast<int>(it->second.size()), -1, 0) != 1) {
      return absl::InvalidArgumentError(
          absl::StrFormat("subject \"%s\": the value of %s is not valid UTF-8 or too long (%s)",
                          shown, field, OpenSslError()));
    }
  }
  return name;
}

absl::StatusOr<std::string> PrivateKeyToPem(EVP_PKEY* key) {
  // A secure-heap memory BIO: its buffer is wiped when freed.
  BioPtr bio(BIO_new(BIO_s_secmem()));
  if (!bio) return absl::InternalError("out of memory encoding a key");
  if (PEM_write_bio_PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr) != 1) {
    return absl::InternalError(text::Cat("cannot encode the private key: ", OpenSslError()));
  }
  char* data = nullptr;
  const long n = BIO_get_mem_data(bio.get(), &data);
  if (n <= 0 || data == nullptr) return absl::InternalError("cannot encode the private key");
  std::string pem;
  pem.reserve(static_cast<size_t>(n) + 1);
  pem.assign(data, static_cast<size_t>(n));
  return pem;
}

absl::StatusOr<EvpPkeyPtr> PrivateKeyFromPem(std::string_view pem, std::string_view source) {
  BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  if (!bio) return absl::InternalError("out of memory reading a key");
  ERR_clear_error();
  EVP_PKEY* key = PEM_read_bio_PrivateKey(bio.get(), nullptr, NoPassphrase, nullptr);
  if (key == nullptr) {
    const std::string why = OpenSslError();
    return absl::FailedPreconditionError(
        absl::StrFormat("%s is not a readable private key (%s); it must be an unencrypted PEM key",
                        source, why.empty() ? "no key found" : why));
  }
  return EvpPkeyPtr(key);
}

Lsc::Lsc(std::string state_dir) : dir_(std::move(state_dir)) {
  while (dir_.size() > 1 && dir_.back() == '/') dir_.pop_back();
}

std::string Lsc::KeyPath() const { return dir_ + "/lsc.key"; }
std::string Lsc::CertPath() const { return dir_ + "/lsc.pem"; }
std::string Lsc::ChainPath() const { return dir_ + "/lsc-chain.pem"; }
std::string Lsc::PendingKeyPath() const { return dir_ + "/lsc-pending.key"; }
std::string Lsc::CsrPath() const { return dir_ + "/lsc.csr"; }

absl::StatusOr<LscRequest> Lsc::Request(std::string_view subject_text, KeyType type,
                                        bool replace_pending) {
  absl::StatusOr<X509NamePtr> subject = ParseSubject(subject_text);
  if (!subject.ok()) return subject.status();
  if (!replace_pending && Exists(PendingKeyPath())) {
    return absl::AlreadyExistsError(absl::StrFormat(
        "an LSC request is already pending (%s, %s); install the certificate the CAPF returns "
        "with `mpswitch lsc install`, or make a new request with --replace (the pending key is "
        "then lost)",
        PendingKeyPath(), CsrPath()));
  }
  if (absl::Status s = MakeDirectories(dir_, 0700); !s.ok()) return s;

  absl::StatusOr<EvpPkeyPtr> key = GenerateKey(type);
  if (!key.ok()) return key.status();
  std::unique_ptr<X509_REQ, X509ReqDeleter> req(X509_REQ_new());
  if (!req) return absl::InternalError("out of memory making a CSR");
  ERR_clear_error();
  if (X509_REQ_set_version(req.get(), 0) != 1 ||  // PKCS#10 v1 is 0
      X509_REQ_set_subject_name(req.get(), subject->get()) != 1 ||
      X509_REQ_set_pubkey(req.get(), key->get()) != 1 ||
      X509_REQ_sign(req.get(), key->get(), EVP_sha256()) <= 0) {
    return absl::InternalError(text::Cat("cannot make the CSR: ", OpenSslError()));
  }
  if (X509_REQ_verify(req.get(), key->get()) != 1) {
    return absl::InternalError(text::Cat("the new CSR does not verify: ", OpenSslError()));
  }
  absl::StatusOr<std::string> csr_pem = CsrToPem(req.get());
  if (!csr_pem.ok()) return csr_pem.status();
  absl::StatusOr<std::string> key_pem = PrivateKeyToPem(key->get());
  if (!key_pem.ok()) return key_pem.status();
  Wipe wipe(*key_pem);

  // The key first: a CSR must never be out there for a key that is not kept.
  if (absl::Status s = WriteFileAtomic(PendingKeyPath(), *key_pem, 0600, replace_pending);
      !s.ok()) {
    if (absl::IsAlreadyExists(s)) {
      return absl::AlreadyExistsError(absl::StrFormat(
          "an LSC request was made at the same time (%s); run `mpswitch lsc request` again",
          PendingKeyPath()));
    }
    return s;
  }
  if (absl::Status s = WriteFileAtomic(CsrPath(), *csr_pem, 0644, /*replace_existing=*/true);
      !s.ok()) {
    if (!replace_pending) {
      ::unlink(PendingKeyPath().c_str());
      (void)SyncDirectory(dir_);
    }
    return s;
  }
  LscRequest out;
  out.csr_path = CsrPath();
  out.csr_pem = std::move(*csr_pem);
  out.key_path = PendingKeyPath();
  out.subject = NameToRfc2253(subject->get());
  return out;
}

absl::StatusOr<LscInfo> Lsc::Install(std::string_view cert_bytes, std::string_view chain_bytes,
                                     const TrustStore& trust) {
  absl::StatusOr<X509Ptr> cert = ParseCertificate(cert_bytes, "the LSC certificate");
  if (!cert.ok()) return cert.status();
  absl::StatusOr<std::vector<X509Ptr>> chain = ParsePemCertificates(chain_bytes, "the LSC chain");
  if (!chain.ok()) return chain.status();
  const std::string cert_subject = NameToRfc2253(X509_get_subject_name(cert->get()));

  // The key the certificate must be for.
  const bool from_pending = Exists(PendingKeyPath());
  const std::string key_source = from_pending ? PendingKeyPath() : KeyPath();
  if (!from_pending && !Exists(KeyPath())) {
    return absl::FailedPreconditionError(absl::StrFormat(
        "%s: no LSC key in %s (neither %s nor %s); run `mpswitch lsc request` first and have the "
        "CAPF sign its CSR",
        kLscKeyMismatchText, dir_, text::BaseOf(PendingKeyPath()), text::BaseOf(KeyPath())));
  }
  absl::StatusOr<std::string> key_pem = ReadFileBounded(key_source, kMaxKeyFile);
  if (!key_pem.ok()) {
    return absl::Status(key_pem.status().code(),
                        text::Cat(kLscKeyMismatchText, ": ", key_pem.status().message()));
  }
  Wipe wipe(*key_pem);
  absl::StatusOr<EvpPkeyPtr> key = PrivateKeyFromPem(*key_pem, key_source);
  if (!key.ok()) {
    return absl::FailedPreconditionError(
        text::Cat(kLscKeyMismatchText, ": ", key.status().message()));
  }
  ERR_clear_error();
  if (X509_check_private_key(cert->get(), key->get()) != 1) {
    ERR_clear_error();
    return absl::FailedPreconditionError(absl::StrFormat(
        "%s: the certificate (subject %s, serial %s) is not for the key in %s; install the "
        "certificate the CAPF issued for %s (from `mpswitch lsc request`)",
        kLscKeyMismatchText, cert_subject, SerialHex(cert->get()), key_source, CsrPath()));
  }

  // Its chain must lead to CAPF-trust.
  absl::StatusOr<X509StorePtr> store = trust.StoreFor({TrustUnit::kCapfTrust});
  if (!store.ok()) {
    return absl::Status(store.status().code(),
                        text::Cat("the LSC cannot be checked: ", store.status().message()));
  }
  std::unique_ptr<STACK_OF(X509), X509StackDeleter> untrusted(sk_X509_new_null());
  std::unique_ptr<X509_STORE_CTX, StoreCtxDeleter> ctx(X509_STORE_CTX_new());
  if (!untrusted || !ctx) return absl::InternalError("out of memory verifying the LSC");
  for (const X509Ptr& c : *chain) {
    if (sk_X509_push(untrusted.get(), c.get()) <= 0) {
      return absl::InternalError("out of memory verifying the LSC");
    }
  }
  if (X509_STORE_CTX_init(ctx.get(), store->get(), cert->get(), untrusted.get()) != 1) {
    return absl::InternalError(text::Cat("cannot verify the LSC: ", OpenSslError()));
  }
  if (X509_verify_cert(ctx.get()) != 1) {
    const int err = X509_STORE_CTX_get_error(ctx.get());
    const int depth = X509_STORE_CTX_get_error_depth(ctx.get());
    const X509* at = X509_STORE_CTX_get_current_cert(ctx.get());
    const std::string at_subject =
        at != nullptr ? NameToRfc2253(X509_get_subject_name(at)) : cert_subject;
    ERR_clear_error();
    return absl::PermissionDeniedError(absl::StrFormat(
        "the LSC (subject %s, issuer %s) does not verify to a certificate in CAPF-trust (%s): %s "
        "at depth %d (%s); upload the CAPF certificate that issued it with `mpswitch cert upload "
        "CAPF-trust CAPF.der`, or give the intermediate certificates as the chain",
        cert_subject, NameToRfc2253(X509_get_issuer_name(cert->get())),
        trust.UnitDir(TrustUnit::kCapfTrust), X509_verify_cert_error_string(err), depth,
        at_subject));
  }

  // Write the new key, certificate and chain into a fresh directory, then swap it in with one
  // rename of lsc-current.
  std::string cert_pem = CertificateToPem(cert->get());
  std::string chain_pem;
  for (const X509Ptr& c : *chain) chain_pem += CertificateToPem(c.get());
  if (cert_pem.empty()) return absl::InternalError("cannot encode the LSC as PEM");
  if (absl::Status s = MakeDirectories(dir_, 0700); !s.ok()) return s;
  std::string vdir = text::Cat(dir_, "/", kVersionPrefix, "XXXXXX");
  if (::mkdtemp(vdir.data()) == nullptr) {  // mode 0700
    const int err = errno;
    return text::ErrnoError(err, absl::StrFormat("cannot create a directory in %s: %s; check that it is "
                                           "writable by this user",
                                           dir_, std::strerror(err)));
  }
  const std::string_view contents[3] = {*key_pem, cert_pem, chain_pem};
  const mode_t modes[3] = {0600, 0644, 0644};
  for (size_t f = 0; f < kLscFiles.size(); ++f) {
    absl::Status s = WriteFileAtomic(text::Cat(vdir, "/", kLscFiles[f]), contents[f], modes[f],
                                     /*replace_existing=*/false);
    if (!s.ok()) {
      RemoveFlatDir(vdir);
      return absl::Status(s.code(), text::Cat("the LSC was not installed: ", s.message()));
    }
  }
  if (absl::Status s = SyncDirectory(dir_); !s.ok()) {
    RemoveFlatDir(vdir);
    return s;
  }
  const std::string current = text::Cat(dir_, "/", kCurrentLink);
  const std::string previous = ReadLink(current);
  if (absl::Status s = ReplaceSymlink(text::BaseOf(vdir), current); !s.ok()) {
    RemoveFlatDir(vdir);
    return absl::Status(s.code(), text::Cat("the LSC was not installed: ", s.message()));
  }
  // Committed. The stable names become links through lsc-current (once; later installs find
  // them in place).
  for (const std::string_view f : kLscFiles) {
    const std::string path = text::Cat(dir_, "/", f);
    const std::string target = text::Cat(kCurrentLink, "/", f);
    if (ReadLink(path) == target) continue;
    if (absl::Status s = ReplaceSymlink(target, path); !s.ok()) {
      return absl::Status(s.code(),
                          absl::StrFormat("the new LSC is in %s but %s could not be pointed at "
                                          "it (%s); run `mpswitch lsc install` again",
                                          vdir, path, s.message()));
    }
  }
  if (absl::Status s = SyncDirectory(dir_); !s.ok()) return s;
  if (from_pending) {
    ::unlink(PendingKeyPath().c_str());
    ::unlink(CsrPath().c_str());
  }
  if (text::StartsWith(previous, kVersionPrefix) && previous.find('/') == std::string::npos &&
      previous != text::BaseOf(vdir)) {
    RemoveFlatDir(text::Cat(dir_, "/", previous));
  }
  (void)SyncDirectory(dir_);
  return Show();
}

absl::StatusOr<LscInfo> Lsc::Show(absl::Time now) const {
  struct stat st;
  if (::stat(CertPath().c_str(), &st) != 0 && errno == ENOENT) {
    return absl::NotFoundError(absl::StrFormat(
        "no LSC installed in %s (%s is missing); run `mpswitch lsc request` and `mpswitch lsc "
        "install`, or `mpswitch pki init DIR` for development",
        dir_, CertPath()));
  }
  absl::StatusOr<std::string> cert_text = ReadFileBounded(CertPath());
  if (!cert_text.ok()) return cert_text.status();
  absl::StatusOr<X509Ptr> cert = ParseCertificate(*cert_text, CertPath());
  if (!cert.ok()) {
    return absl::FailedPreconditionError(
        text::Cat(cert.status().message(), " (reinstall the LSC with `mpswitch lsc install`)"));
  }
  LscInfo info;
  info.key_path = KeyPath();
  info.cert_path = CertPath();
  info.chain_path = ChainPath();
  if (Exists(ChainPath())) {
    absl::StatusOr<std::string> chain_text = ReadFileBounded(ChainPath());
    if (!chain_text.ok()) return chain_text.status();
    absl::StatusOr<std::vector<X509Ptr>> chain = ParsePemCertificates(*chain_text, ChainPath());
    if (!chain.ok()) {
      return absl::FailedPreconditionError(text::Cat(
          chain.status().message(), " (reinstall the LSC with `mpswitch lsc install`)"));
    }
    info.chain_certificates = chain->size();
  }
  {
    absl::StatusOr<std::string> key_pem = ReadFileBounded(KeyPath(), kMaxKeyFile);
    if (key_pem.ok()) {
      Wipe wipe(*key_pem);
      absl::StatusOr<EvpPkeyPtr> key = PrivateKeyFromPem(*key_pem, KeyPath());
      info.key_matches = key.ok() && X509_check_private_key(cert->get(), key->get()) == 1;
    }
    ERR_clear_error();
  }
  X509* c = cert->get();
  info.x509_subject_name = CommonName(X509_get_subject_name(c));
  info.subject = NameToRfc2253(X509_get_subject_name(c));
  info.issuer = NameToRfc2253(X509_get_issuer_name(c));
  info.serial_hex = SerialHex(c);
  info.not_before = Asn1TimeToTime(X509_get0_notBefore(c));
  info.not_after = Asn1TimeToTime(X509_get0_notAfter(c));
  info.not_before_text = TimeText(info.not_before);
  info.not_after_text = TimeText(info.not_after);
  info.sha1_fingerprint = CertificateFingerprint(c, EVP_sha1());
  if (info.not_after == absl::InfinitePast()) {
    info.days_until_expiry = 0;
    info.expired = true;
    info.expires_soon = true;
  } else {
    const absl::Duration left = info.not_after - now;
    info.days_until_expiry = FloorDays(left);
    info.expired = left <= absl::ZeroDuration();
    info.expires_soon = left < kLscExpiryWarning;
  }
  return info;
}

}  // namespace mpswitch::control::trust
