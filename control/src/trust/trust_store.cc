#include "mpswitch/control/trust/trust_store.h"
#include "text.h"

#include <dirent.h>
#include <fcntl.h>
#include <openssl/asn1.h>
#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/x509_vfy.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <set>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"

namespace mpswitch::control::trust {
namespace {

constexpr size_t kMaxCertificateInput = size_t{1} << 20;
constexpr size_t kMaxStem = 64;
constexpr size_t kMaxSerialInName = 40;
constexpr int kMaxNameSuffix = 1000;

struct BioDeleter {
  void operator()(BIO* b) const { BIO_free(b); }
};
using BioPtr = std::unique_ptr<BIO, BioDeleter>;

std::string BioText(BIO* b) {
  char* data = nullptr;
  const long n = BIO_get_mem_data(b, &data);
  return n > 0 && data != nullptr ? std::string(data, static_cast<size_t>(n)) : std::string();
}


// An owned file descriptor.
class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() { Close(); }
  int get() const { return fd_; }
  int Close() {
    if (fd_ < 0) return 0;
    const int rc = ::close(fd_);
    fd_ = -1;
    return rc;
  }

 private:
  int fd_;
};

// flock(2) on a unit directory: exclusive for changes, shared for reads. Closing the descriptor
// releases it.
class DirLock {
 public:
  DirLock() = default;
  DirLock(const DirLock&) = delete;
  DirLock& operator=(const DirLock&) = delete;
  ~DirLock() {
    if (fd_ >= 0) ::close(fd_);
  }
  absl::Status Lock(const std::string& dir, int operation) {
    fd_ = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd_ < 0) {
      const int err = errno;
      return text::ErrnoError(err, absl::StrFormat("cannot open %s: %s", dir, std::strerror(err)));
    }
    while (::flock(fd_, operation) != 0) {
      const int err = errno;
      if (err == EINTR) continue;
      return text::ErrnoError(err, absl::StrFormat("cannot lock %s: %s", dir, std::strerror(err)));
    }
    return absl::OkStatus();
  }

 private:
  int fd_ = -1;
};


// 0 or the errno of the failed write.
int WriteAll(int fd, std::string_view data) {
  while (!data.empty()) {
    const ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return errno;
    }
    data.remove_prefix(static_cast<size_t>(n));
  }
  return 0;
}

std::string ColonHex(const unsigned char* b, size_t n) {
  std::string s;
  s.reserve(n * 3);
  for (size_t i = 0; i < n; ++i) {
    if (i != 0) s += ':';
    s += absl::StrFormat("%02X", b[i]);
  }
  return s;
}

// The three allocations PEM_read_bio hands back.
struct PemBlock {
  char* name = nullptr;
  char* header = nullptr;
  unsigned char* data = nullptr;
  long len = 0;
  PemBlock() = default;
  PemBlock(const PemBlock&) = delete;
  PemBlock& operator=(const PemBlock&) = delete;
  ~PemBlock() {
    OPENSSL_free(name);
    OPENSSL_free(header);
    // The block may be a private key someone uploaded by mistake: wipe it.
    if (data != nullptr) OPENSSL_clear_free(data, static_cast<size_t>(len));
  }
};

absl::Status KeyRefused(std::string_view source) {
  return absl::InvalidArgumentError(absl::StrFormat(
      "%s holds a private key, not a certificate; never upload a key: upload only the "
      "certificate (.der or .pem) and keep the key where it was made",
      source));
}

absl::Status CsrRefused(std::string_view source) {
  return absl::InvalidArgumentError(absl::StrFormat(
      "%s is a certificate signing request (CSR), not a certificate; have the CA (the CAPF) "
      "sign it and upload the certificate it returns",
      source));
}

// Every PEM block of `text`. Keys, CSRs and other blocks are refused (a key is refused even next
// to a certificate: it must never land in a trust unit). Zero blocks is not an error here.
absl::StatusOr<std::vector<X509Ptr>> ReadPemBlocks(std::string_view text, std::string_view source) {
  if (text.size() > static_cast<size_t>(INT32_MAX)) {
    return absl::InvalidArgumentError(absl::StrFormat("%s is too large", source));
  }
  BioPtr bio(BIO_new_mem_buf(text.data(), static_cast<int>(text.size())));
  if (!bio) return absl::InternalError("out of memory reading PEM");
  std::vector<X509Ptr> certs;
  bool key = false;
  bool csr = false;
  std::string other;
  ERR_clear_error();
  for (int index = 1;; ++index) {
    PemBlock block;
    if (PEM_read_bio(bio.get(), &block.name, &block.header, &block.data, &block.len) != 1) {
      const unsigned long e = ERR_peek_last_error();
      if (ERR_GET_LIB(e) == ERR_LIB_PEM && ERR_GET_REASON(e) == PEM_R_NO_START_LINE) {
        ERR_clear_error();  // no further block: the normal end
        break;
      }
      const std::string why = OpenSslError();
      return absl::InvalidArgumentError(absl::StrFormat(
          "%s: PEM block %d cannot be read (%s); give the file exactly as it was exported", source,
          index, why.empty() ? "truncated or corrupt" : why));
    }
    const std::string_view name = block.name != nullptr ? block.name : "";
    if (name == "CERTIFICATE" || name == "X509 CERTIFICATE" || name == "TRUSTED CERTIFICATE") {
      const unsigned char* p = block.data;
      X509* x = name == "TRUSTED CERTIFICATE" ? d2i_X509_AUX(nullptr, &p, block.len)
                                              : d2i_X509(nullptr, &p, block.len);
      if (x == nullptr || p != block.data + block.len) {
        X509_free(x);
        const std::string why = OpenSslError();
        return absl::InvalidArgumentError(absl::StrFormat(
            "%s: PEM block %d (%s) is not a valid X.509 certificate%s; export it again", source,
            index, name, why.empty() ? "" : " (" + why + ")"));
      }
      certs.emplace_back(x);
    } else if (text::Contains(name, "PRIVATE KEY")) {
      key = true;
    } else if (name == "CERTIFICATE REQUEST" || name == "NEW CERTIFICATE REQUEST") {
      csr = true;
    } else if (other.empty()) {
      other = std::string(name);
    }
  }
  if (key) return KeyRefused(source);
  if (csr) return CsrRefused(source);
  if (!other.empty()) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "%s holds a PEM \"%s\" block, not a certificate; give X.509 certificates (.der or .pem) "
        "only",
        source, other));
  }
  return certs;
}

bool LooksLikePem(std::string_view bytes) {
  return !bytes.empty() && static_cast<unsigned char>(bytes[0]) != 0x30 &&
         text::Contains(bytes, "-----BEGIN ");
}

bool ValidName(std::string_view name) {
  return !name.empty() && name.size() <= 255 && name.front() != '.' &&
         name.find('/') == std::string_view::npos && name.find('\0') == std::string_view::npos &&
         text::EndsWith(name, ".pem");
}

absl::Status BadName(TrustUnit unit, std::string_view name) {
  return absl::InvalidArgumentError(absl::StrFormat(
      "\"%s\" is not a certificate name in %s: names end in .pem and contain no '/'; "
      "`mpswitch cert list` shows them",
      absl::CHexEscape(text::Absl(name)), TrustUnitName(unit)));
}

// The file-name stem from a CN: [A-Za-z0-9._-] kept, runs of anything else one '_', no leading
// '.' or '-' (no hidden files, no options), at most 64 characters.
std::string FileStem(const std::string& cn) {
  std::string s;
  for (const char c : cn) {
    const bool keep =
        absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-';
    const char out = keep ? c : '_';
    if (out == '_' && !s.empty() && s.back() == '_') continue;
    s.push_back(out);
  }
  while (!s.empty() && (s.front() == '.' || s.front() == '-')) s.erase(0, 1);
  if (s.size() > kMaxStem) s.resize(kMaxStem);
  if (s.empty() || s == "_") s = "certificate";
  return s;
}

std::string SerialForName(const X509* cert) {
  std::string s = SerialHex(cert);
  if (!s.empty() && s.front() == '-') s.front() = 'N';
  if (s.size() > kMaxSerialInName) s.resize(kMaxSerialInName);
  return s;
}

CertificateRow RowOf(TrustUnit unit, std::string name, X509* cert) {
  CertificateRow r;
  r.unit = unit;
  r.name = std::move(name);
  r.subject = NameToRfc2253(X509_get_subject_name(cert));
  r.issuer = NameToRfc2253(X509_get_issuer_name(cert));
  r.serial_hex = SerialHex(cert);
  r.not_after = Asn1TimeToTime(X509_get0_notAfter(cert));
  r.not_after_text = TimeText(r.not_after);
  r.sha1_fingerprint = CertificateFingerprint(cert, EVP_sha1());
  r.sha256_fingerprint = CertificateFingerprint(cert, EVP_sha256());
  return r;
}

std::string Pad(std::string_view s, size_t width) {
  std::string out(s);
  if (out.size() < width) out.append(width - out.size(), ' ');
  return out;
}

}  // namespace

std::string_view TrustUnitName(TrustUnit unit) {
  switch (unit) {
    case TrustUnit::kCapfTrust:
      return "CAPF-trust";
    case TrustUnit::kCtmTrust:
      return "CTM-trust";
  }
  return "unknown-unit";
}

absl::StatusOr<TrustUnit> ParseTrustUnit(std::string_view text) {
  for (const TrustUnit u : kAllTrustUnits) {
    if (text::EqualsIgnoreCase(text, TrustUnitName(u))) return u;
  }
  return absl::InvalidArgumentError(absl::StrFormat(
      "unknown trust unit \"%s\"; the units are CAPF-trust (the CAPF root) and CTM-trust (the "
      "call-control nodes' certificates)",
      absl::CHexEscape(text::Absl(text))));
}

absl::StatusOr<TrustStore> TrustStore::Open(const std::string& dir, bool create) {
  if (dir.empty()) {
    return absl::InvalidArgumentError(
        "no trust directory given; set trust_dir in the [tls] section of mpswitch.toml");
  }
  std::string d = dir;
  while (d.size() > 1 && d.back() == '/') d.pop_back();
  if (create) {
    if (absl::Status s = MakeDirectories(d, 0755); !s.ok()) return s;
    for (const TrustUnit u : kAllTrustUnits) {
      if (absl::Status s = MakeDirectories(text::Cat(d, "/", TrustUnitName(u)), 0755); !s.ok()) {
        return s;
      }
    }
  }
  struct stat st;
  if (::stat(d.c_str(), &st) != 0) {
    const int err = errno;
    if (err == ENOENT) {
      return absl::NotFoundError(absl::StrFormat(
          "trust directory %s does not exist; point trust_dir in mpswitch.toml at the right "
          "directory, or create it (`mpswitch pki init DIR` makes one for development)",
          d));
    }
    return text::ErrnoError(err,
                      absl::StrFormat("cannot use trust directory %s: %s", d, std::strerror(err)));
  }
  if (!S_ISDIR(st.st_mode)) {
    return absl::FailedPreconditionError(absl::StrFormat(
        "trust directory %s is not a directory; point trust_dir at a directory", d));
  }
  return TrustStore(std::move(d));
}

std::string TrustStore::UnitDir(TrustUnit unit) const {
  return text::Cat(dir_, "/", TrustUnitName(unit));
}

absl::StatusOr<std::vector<std::string>> TrustStore::Names(TrustUnit unit) const {
  const std::string udir = UnitDir(unit);
  std::vector<std::string> names;
  DIR* d = ::opendir(udir.c_str());
  if (d == nullptr) {
    const int err = errno;
    if (err == ENOENT) return names;  // made by the first upload
    return text::ErrnoError(err,
                      absl::StrFormat("cannot read trust unit %s: %s", udir, std::strerror(err)));
  }
  errno = 0;
  while (const dirent* e = ::readdir(d)) {
    const std::string_view name = e->d_name;
    if (!ValidName(name)) continue;  // temp files are hidden, other files are not ours
    struct stat st;
    const std::string path = text::Cat(udir, "/", name);
    if (::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode)) names.emplace_back(name);
    errno = 0;
  }
  const int err = errno;
  ::closedir(d);
  if (err != 0) {
    return text::ErrnoError(err,
                      absl::StrFormat("cannot read trust unit %s: %s", udir, std::strerror(err)));
  }
  std::sort(names.begin(), names.end());
  return names;
}

namespace {

absl::StatusOr<X509Ptr> ReadUnitCertificate(TrustUnit unit, const std::string& udir,
                                            std::string_view name) {
  const std::string path = text::Cat(udir, "/", name);
  absl::StatusOr<std::string> text = ReadFileBounded(path, kMaxCertificateInput);
  if (!text.ok()) {
    if (absl::IsNotFound(text.status())) {
      return absl::NotFoundError(
          absl::StrFormat("no certificate named %s in %s; `mpswitch cert list` shows the names",
                          name, TrustUnitName(unit)));
    }
    return text.status();
  }
  absl::StatusOr<std::vector<X509Ptr>> certs = ReadPemBlocks(*text, path);
  if (!certs.ok() || certs->size() != 1) {
    const std::string why = !certs.ok()
                                ? std::string(certs.status().message())
                                : absl::StrFormat("it holds %d certificates", certs->size());
    return absl::FailedPreconditionError(absl::StrFormat(
        "%s is not a single PEM certificate (%s); remove it with `mpswitch cert delete %s %s` "
        "and upload the certificate again",
        path, why, TrustUnitName(unit), name));
  }
  return std::move(certs->front());
}

}  // namespace

absl::StatusOr<CertificateRow> TrustStore::Upload(TrustUnit unit, std::string_view bytes,
                                                  std::string_view source) {
  absl::StatusOr<X509Ptr> cert = ParseCertificate(bytes, source);
  if (!cert.ok()) return cert.status();
  const std::string udir = UnitDir(unit);
  if (absl::Status s = MakeDirectories(udir, 0755); !s.ok()) return s;
  DirLock lock;
  if (absl::Status s = lock.Lock(udir, LOCK_EX); !s.ok()) return s;

  absl::StatusOr<std::vector<std::string>> names = Names(unit);
  if (!names.ok()) return names.status();
  const std::string fingerprint = CertificateFingerprint(cert->get(), EVP_sha256());
  for (const std::string& name : *names) {
    absl::StatusOr<X509Ptr> held = ReadUnitCertificate(unit, udir, name);
    if (!held.ok()) return held.status();
    if (CertificateFingerprint(held->get(), EVP_sha256()) == fingerprint) {
      return absl::AlreadyExistsError(absl::StrFormat(
          "%s already holds this certificate as %s (SHA-256 %s); nothing to do (to upload it "
          "again, delete %s first)",
          TrustUnitName(unit), name, fingerprint, name));
    }
  }
  const std::set<std::string> taken(names->begin(), names->end());
  const std::string stem = text::Cat(FileStem(CommonName(X509_get_subject_name(cert->get()))),
                                        "_", SerialForName(cert->get()));
  std::string name;
  for (int n = 1; n <= kMaxNameSuffix; ++n) {
    std::string candidate =
        n == 1 ? text::Cat(stem, ".pem") : text::Cat(stem, "-", n, ".pem");
    if (!taken.contains(candidate)) {
      name = std::move(candidate);
      break;
    }
  }
  if (name.empty()) {
    return absl::ResourceExhaustedError(absl::StrFormat(
        "%s already holds %d certificates named %s*.pem; delete the ones no longer needed",
        TrustUnitName(unit), kMaxNameSuffix, stem));
  }
  const std::string pem = CertificateToPem(cert->get());
  if (pem.empty()) return absl::InternalError("cannot encode the certificate as PEM");
  if (absl::Status s = WriteFileAtomic(text::Cat(udir, "/", name), pem, 0644,
                                       /*replace_existing=*/false);
      !s.ok()) {
    return absl::Status(s.code(), absl::StrFormat("%s was not uploaded to %s: %s", source,
                                                  TrustUnitName(unit), s.message()));
  }
  return RowOf(unit, std::move(name), cert->get());
}

absl::StatusOr<std::vector<CertificateRow>> TrustStore::List(TrustUnit unit) const {
  std::vector<CertificateRow> rows;
  const std::string udir = UnitDir(unit);
  DirLock lock;
  struct stat st;
  if (::stat(udir.c_str(), &st) != 0) return rows;  // no unit directory yet: empty
  if (absl::Status s = lock.Lock(udir, LOCK_SH); !s.ok()) return s;
  absl::StatusOr<std::vector<std::string>> names = Names(unit);
  if (!names.ok()) return names.status();
  for (const std::string& name : *names) {
    absl::StatusOr<X509Ptr> cert = ReadUnitCertificate(unit, udir, name);
    if (!cert.ok()) return cert.status();
    rows.push_back(RowOf(unit, name, cert->get()));
  }
  return rows;
}

absl::StatusOr<std::vector<CertificateRow>> TrustStore::List() const {
  std::vector<CertificateRow> rows;
  for (const TrustUnit u : kAllTrustUnits) {
    absl::StatusOr<std::vector<CertificateRow>> unit_rows = List(u);
    if (!unit_rows.ok()) return unit_rows.status();
    for (CertificateRow& r : *unit_rows) rows.push_back(std::move(r));
  }
  return rows;
}

absl::StatusOr<std::string> TrustStore::Show(TrustUnit unit, std::string_view name) const {
  if (!ValidName(name)) return BadName(unit, name);
  const std::string udir = UnitDir(unit);
  absl::StatusOr<X509Ptr> cert = ReadUnitCertificate(unit, udir, name);
  if (!cert.ok()) return cert.status();
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (!bio) return absl::InternalError("out of memory printing a certificate");
  if (X509_print_ex(bio.get(), cert->get(), XN_FLAG_RFC2253, X509_FLAG_COMPAT) != 1) {
    return absl::InternalError(
        absl::StrFormat("cannot print %s/%s: %s", udir, name, OpenSslError()));
  }
  return text::Cat("Unit: ", TrustUnitName(unit), "\nCategory: trust\nCertificate Name: ", name,
                      "\nSHA-1 Fingerprint: ", CertificateFingerprint(cert->get(), EVP_sha1()),
                      "\nSHA-256 Fingerprint: ", CertificateFingerprint(cert->get(), EVP_sha256()),
                      "\n", BioText(bio.get()), CertificateToPem(cert->get()));
}

absl::Status TrustStore::Delete(TrustUnit unit, std::string_view name) {
  if (!ValidName(name)) return BadName(unit, name);
  const std::string udir = UnitDir(unit);
  const std::string path = text::Cat(udir, "/", name);
  struct stat st;
  if (::stat(udir.c_str(), &st) != 0 || ::stat(path.c_str(), &st) != 0) {
    return absl::NotFoundError(
        absl::StrFormat("no certificate named %s in %s; `mpswitch cert list` shows the names", name,
                        TrustUnitName(unit)));
  }
  DirLock lock;
  if (absl::Status s = lock.Lock(udir, LOCK_EX); !s.ok()) return s;
  if (::unlink(path.c_str()) != 0) {
    const int err = errno;
    if (err == ENOENT) {
      return absl::NotFoundError(
          absl::StrFormat("no certificate named %s in %s; `mpswitch cert list` shows the names",
                          name, TrustUnitName(unit)));
    }
    return text::ErrnoError(err, absl::StrFormat("cannot delete %s: %s; check that %s is writable by "
                                           "this user",
                                           path, std::strerror(err), udir));
  }
  return SyncDirectory(udir);
}

absl::StatusOr<std::vector<X509Ptr>> TrustStore::Certificates(TrustUnit unit) const {
  std::vector<X509Ptr> certs;
  const std::string udir = UnitDir(unit);
  struct stat st;
  if (::stat(udir.c_str(), &st) != 0) return certs;  // no unit directory yet: empty
  DirLock lock;
  if (absl::Status s = lock.Lock(udir, LOCK_SH); !s.ok()) return s;
  absl::StatusOr<std::vector<std::string>> names = Names(unit);
  if (!names.ok()) return names.status();
  for (const std::string& name : *names) {
    absl::StatusOr<X509Ptr> cert = ReadUnitCertificate(unit, udir, name);
    if (!cert.ok()) return cert.status();
    certs.push_back(std::move(*cert));
  }
  return certs;
}

absl::StatusOr<X509StorePtr> TrustStore::StoreFor(std::span<const TrustUnit> units) const {
  X509StorePtr store(X509_STORE_new());
  if (!store) return absl::InternalError("out of memory making an X509_STORE");
  if (X509_STORE_set_flags(store.get(), X509_V_FLAG_PARTIAL_CHAIN) != 1) {
    return absl::InternalError(text::Cat("X509_STORE_set_flags failed: ", OpenSslError()));
  }
  size_t count = 0;
  std::vector<std::string> unit_names;
  for (const TrustUnit u : units) {
    unit_names.emplace_back(TrustUnitName(u));
    absl::StatusOr<std::vector<X509Ptr>> certs = Certificates(u);
    if (!certs.ok()) return certs.status();
    for (const X509Ptr& c : *certs) {
      // The store takes its own reference.
      if (X509_STORE_add_cert(store.get(), c.get()) != 1) {
        return absl::InternalError(absl::StrFormat(
            "cannot add a certificate of %s to the store: %s", TrustUnitName(u), OpenSslError()));
      }
      ++count;
    }
  }
  if (count == 0) {
    const std::string first = unit_names.empty() ? "CAPF-trust" : unit_names.front();
    return absl::FailedPreconditionError(absl::StrFormat(
        "no trusted certificate in %s (under %s); upload one with `mpswitch cert upload %s FILE`",
        unit_names.empty() ? std::string("any trust unit") : absl::StrJoin(unit_names, " or "),
        dir_, first));
  }
  return store;
}

std::string FormatCertificateTable(const std::vector<CertificateRow>& rows) {
  static constexpr std::string_view kHeads[] = {"Unit", "Category", "Certificate Name", "Expires"};
  size_t width[4] = {kHeads[0].size(), kHeads[1].size(), kHeads[2].size(), kHeads[3].size()};
  for (const CertificateRow& r : rows) {
    width[0] = std::max(width[0], TrustUnitName(r.unit).size());
    width[1] = std::max(width[1], r.category.size());
    width[2] = std::max(width[2], r.name.size());
    width[3] = std::max(width[3], r.not_after_text.size());
  }
  std::string out = "Digital Security Certificates\n";
  out += rows.empty() ? std::string("Showing 0 records\n")
                      : absl::StrFormat("Showing 1 - %d of %d records\n", rows.size(), rows.size());
  for (size_t i = 0; i < 4; ++i) text::Append(&out, Pad(kHeads[i], width[i] + 2));
  out += "Subject\n";
  for (const CertificateRow& r : rows) {
    text::Append(&out, Pad(TrustUnitName(r.unit), width[0] + 2), Pad(r.category, width[1] + 2),
                    Pad(r.name, width[2] + 2), Pad(r.not_after_text, width[3] + 2), r.subject,
                    "\n");
  }
  return out;
}

absl::StatusOr<X509Ptr> ParseCertificate(std::string_view bytes, std::string_view source) {
  if (bytes.empty()) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "%s is empty; give the certificate file (.der or .pem) exported from call control",
        source));
  }
  if (bytes.size() > kMaxCertificateInput) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "%s is %d bytes, too large for one certificate (at most 1 MiB); give the certificate "
        "file itself",
        source, bytes.size()));
  }
  if (LooksLikePem(bytes)) {
    absl::StatusOr<std::vector<X509Ptr>> certs = ReadPemBlocks(bytes, source);
    if (!certs.ok()) return certs.status();
    if (certs->empty()) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "%s has no PEM certificate in it (no \"-----BEGIN CERTIFICATE-----\" block); give the "
          "certificate exported from call control",
          source));
    }
    if (certs->size() > 1) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "%s holds %d certificates; give one certificate per file (split the bundle and "
          "upload each)",
          source, certs->size()));
    }
    return std::move(certs->front());
  }
  ERR_clear_error();
  const auto* begin = reinterpret_cast<const unsigned char*>(bytes.data());
  const long len = static_cast<long>(bytes.size());
  const unsigned char* p = begin;
  if (X509* x = d2i_X509(nullptr, &p, len); x != nullptr) {
    X509Ptr cert(x);
    const long used = static_cast<long>(p - begin);
    if (used == len) return cert;
    const unsigned char* q = p;
    X509* second = d2i_X509(nullptr, &q, len - used);
    X509_free(second);
    ERR_clear_error();
    if (second != nullptr) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "%s holds several DER certificates; give one certificate per file", source));
    }
    return absl::InvalidArgumentError(absl::StrFormat(
        "%s has %d bytes after its certificate; give the certificate file exactly as exported",
        source, len - used));
  }
  ERR_clear_error();
  // Not a certificate: say what it is when that can be told.
  {
    const unsigned char* q = begin;
    if (X509_REQ* req = d2i_X509_REQ(nullptr, &q, len); req != nullptr) {
      X509_REQ_free(req);
      ERR_clear_error();
      return CsrRefused(source);
    }
  }
  {
    const unsigned char* q = begin;
    if (EVP_PKEY* key = d2i_AutoPrivateKey(nullptr, &q, len); key != nullptr) {
      EVP_PKEY_free(key);
      ERR_clear_error();
      return KeyRefused(source);
    }
  }
  ERR_clear_error();
  return absl::InvalidArgumentError(absl::StrFormat(
      "%s is not an X.509 certificate (neither DER nor PEM); give the certificate exported from "
      "call control (.der or .pem)",
      source));
}

absl::StatusOr<std::vector<X509Ptr>> ParsePemCertificates(std::string_view pem,
                                                          std::string_view source) {
  if (!pem.empty() && static_cast<unsigned char>(pem[0]) == 0x30) {
    // One DER certificate where PEM was asked for: take it.
    absl::StatusOr<X509Ptr> one = ParseCertificate(pem, source);
    if (!one.ok()) return one.status();
    std::vector<X509Ptr> v;
    v.push_back(std::move(*one));
    return v;
  }
  absl::StatusOr<std::vector<X509Ptr>> certs = ReadPemBlocks(pem, source);
  if (!certs.ok()) return certs.status();
  if (certs->empty() && !text::Strip(pem).empty()) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "%s is not a PEM certificate chain (no \"-----BEGIN CERTIFICATE-----\" block); give the "
        "chain as PEM certificates one after another",
        source));
  }
  return certs;
}

std::string CertificateToPem(X509* cert) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (!bio || PEM_write_bio_X509(bio.get(), cert) != 1) {
    ERR_clear_error();
    return "";
  }
  return BioText(bio.get());
}

std::string CertificateFingerprint(const X509* cert, const EVP_MD* md) {
  unsigned char buf[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (X509_digest(cert, md, buf, &len) != 1) {
    ERR_clear_error();
    return "";
  }
  return ColonHex(buf, len);
}

std::string NameToRfc2253(const X509_NAME* name) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (!bio || X509_NAME_print_ex(bio.get(), name, 0, XN_FLAG_RFC2253) < 0) {
    ERR_clear_error();
    return "";
  }
  return BioText(bio.get());
}

std::string CommonName(const X509_NAME* name) {
  int last = -1;
  for (int i = X509_NAME_get_index_by_NID(name, NID_commonName, -1); i >= 0;
       i = X509_NAME_get_index_by_NID(name, NID_commonName, i)) {
    last = i;
  }
  if (last < 0) return "";
  const ASN1_STRING* data = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, last));
  unsigned char* utf8 = nullptr;
  const int n = ASN1_STRING_to_UTF8(&utf8, data);
  if (n < 0) {
    ERR_clear_error();
    return "";
  }
  std::string s(reinterpret_cast<const char*>(utf8), static_cast<size_t>(n));
  OPENSSL_free(utf8);
  for (char& c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f) c = '?';
  }
  return s;
}

std::string SerialHex(const X509* cert) {
  const ASN1_INTEGER* serial = X509_get0_serialNumber(cert);
  const unsigned char* data = ASN1_STRING_get0_data(serial);
  const int len = ASN1_STRING_length(serial);
  std::string s = ASN1_STRING_type(serial) == V_ASN1_NEG_INTEGER ? "-" : "";
  if (data == nullptr || len <= 0) return s + "00";
  for (int i = 0; i < len; ++i) s += absl::StrFormat("%02X", data[i]);
  return s;
}

absl::Time Asn1TimeToTime(const ASN1_TIME* t) {
  struct tm tm {};
  if (t == nullptr || ASN1_TIME_to_tm(t, &tm) != 1) {
    ERR_clear_error();
    return absl::InfinitePast();
  }
  return absl::FromTimeT(::timegm(&tm));
}

std::string TimeText(absl::Time t) {
  if (t == absl::InfinitePast()) return "(unreadable)";
  return absl::FormatTime("%Y-%m-%d %H:%M:%S UTC", t, absl::UTCTimeZone());
}

std::string OpenSslError() {
  const unsigned long e = ERR_peek_error();
  std::string out;
  if (e != 0) {
    const char* reason = ERR_reason_error_string(e);
    if (reason != nullptr) {
      out = reason;
    } else {
      char buf[256];
      ERR_error_string_n(e, buf, sizeof buf);
      out = buf;
    }
  }
  ERR_clear_error();
  return out;
}

absl::StatusOr<std::string> ReadFileBounded(const std::string& path, size_t max_bytes) {
  const int raw = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (raw < 0) {
    const int err = errno;
    if (err == ENOENT) return absl::NotFoundError(absl::StrFormat("%s does not exist", path));
    if (err == EACCES || err == EPERM) {
      return absl::PermissionDeniedError(absl::StrFormat(
          "cannot read %s: %s; run as the user that owns it", path, std::strerror(err)));
    }
    return text::ErrnoError(err, absl::StrFormat("cannot open %s: %s", path, std::strerror(err)));
  }
  Fd fd(raw);
  struct stat st;
  if (::fstat(fd.get(), &st) != 0) {
    const int err = errno;
    return text::ErrnoError(err, absl::StrFormat("cannot stat %s: %s", path, std::strerror(err)));
  }
  if (!S_ISREG(st.st_mode)) {
    return absl::FailedPreconditionError(absl::StrFormat("%s is not a regular file", path));
  }
  if (static_cast<uint64_t>(st.st_size) > max_bytes) {
    return absl::ResourceExhaustedError(absl::StrFormat(
        "%s is %d bytes, more than the %d expected; check that it is the right file", path,
        static_cast<int64_t>(st.st_size), max_bytes));
  }
  std::string out;
  // Sized up front so a key read here is never copied into a reallocated buffer left behind.
  out.reserve(static_cast<size_t>(st.st_size) + 1);
  char buf[16384];
  absl::Status status = absl::OkStatus();
  for (;;) {
    const ssize_t n = ::read(fd.get(), buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      const int err = errno;
      status = text::ErrnoError(err, absl::StrFormat("cannot read %s: %s", path, std::strerror(err)));
      break;
    }
    if (n == 0) break;
    if (out.size() + static_cast<size_t>(n) > max_bytes) {
      status = absl::ResourceExhaustedError(absl::StrFormat(
          "%s is larger than the %d bytes expected; check that it is the right file", path,
          max_bytes));
      break;
    }
    out.append(buf, static_cast<size_t>(n));
  }
  OPENSSL_cleanse(buf, sizeof buf);
  if (!status.ok()) {
    OPENSSL_cleanse(out.data(), out.size());
    return status;
  }
  return out;
}

absl::Status WriteFileAtomic(const std::string& path, std::string_view contents, mode_t mode,
                             bool replace_existing) {
  const std::string dir = text::DirOf(path);
  std::string tmp = text::Cat(dir, "/.", text::BaseOf(path), ".tmp-XXXXXX");
  // mkostemp: O_CREAT|O_EXCL, mode 0600 from the start, so a key is never readable by others.
  const int raw = ::mkostemp(tmp.data(), O_CLOEXEC);
  if (raw < 0) {
    const int err = errno;
    return text::ErrnoError(
        err, absl::StrFormat("cannot create a file in %s: %s; check that the directory exists "
                             "and is writable by this user",
                             dir, std::strerror(err)));
  }
  Fd fd(raw);
  auto fail = [&](absl::Status s) {
    fd.Close();
    ::unlink(tmp.c_str());
    return s;
  };
  if (::fchmod(fd.get(), mode) != 0) {
    const int err = errno;
    return fail(
        text::ErrnoError(err, absl::StrFormat("cannot set the mode of %s: %s", tmp, std::strerror(err))));
  }
  if (const int err = WriteAll(fd.get(), contents); err != 0) {
    const bool full = err == ENOSPC || err == EDQUOT || err == EFBIG;
    return fail(text::ErrnoError(err, absl::StrFormat("cannot write %s: %s%s", path, std::strerror(err),
                                                full ? "; free some space and try again" : "")));
  }
  if (::fsync(fd.get()) != 0) {
    const int err = errno;
    return fail(text::ErrnoError(err, absl::StrFormat("cannot sync %s: %s", path, std::strerror(err))));
  }
  if (fd.Close() != 0) {
    const int err = errno;
    return fail(text::ErrnoError(err, absl::StrFormat("cannot write %s: %s", path, std::strerror(err))));
  }
  if (replace_existing) {
    if (::rename(tmp.c_str(), path.c_str()) != 0) {
      const int err = errno;
      return fail(text::ErrnoError(
          err, absl::StrFormat("cannot rename %s to %s: %s", tmp, path, std::strerror(err))));
    }
  } else if (::renameat2(AT_FDCWD, tmp.c_str(), AT_FDCWD, path.c_str(), RENAME_NOREPLACE) != 0) {
    int err = errno;
    if (err == EINVAL || err == ENOSYS) {
      // The file system has no RENAME_NOREPLACE: link(2) refuses an existing name just as well.
      if (::link(tmp.c_str(), path.c_str()) == 0) {
        ::unlink(tmp.c_str());
        return SyncDirectory(dir);
      }
      err = errno;
    }
    if (err == EEXIST) {
      return fail(absl::AlreadyExistsError(
          absl::StrFormat("%s already exists; it was left as it is", path)));
    }
    return fail(text::ErrnoError(
        err, absl::StrFormat("cannot rename %s to %s: %s", tmp, path, std::strerror(err))));
  }
  return SyncDirectory(dir);
}

absl::Status SyncDirectory(const std::string& dir) {
  const int raw = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (raw < 0) {
    const int err = errno;
    return text::ErrnoError(err,
                      absl::StrFormat("cannot open directory %s: %s", dir, std::strerror(err)));
  }
  Fd fd(raw);
  if (::fsync(fd.get()) != 0 && errno != EINVAL) {
    const int err = errno;
    return text::ErrnoError(err,
                      absl::StrFormat("cannot sync directory %s: %s", dir, std::strerror(err)));
  }
  return absl::OkStatus();
}

absl::Status MakeDirectories(const std::string& dir, mode_t mode) {
  if (dir.empty()) return absl::InvalidArgumentError("empty directory name");
  size_t pos = 0;
  while (pos != std::string::npos) {
    pos = dir.find('/', pos + 1);
    const std::string prefix = dir.substr(0, pos);
    if (prefix.empty() || prefix == "/") continue;
    if (::mkdir(prefix.c_str(), mode) == 0) {
      // The umask may narrow `mode`, never widen it. The new entry is made durable.
      if (absl::Status s = SyncDirectory(text::DirOf(prefix)); !s.ok()) return s;
      continue;
    }
    const int err = errno;
    struct stat st;
    if (err == EEXIST && ::stat(prefix.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) continue;
    if (err == EEXIST) {
      return absl::FailedPreconditionError(
          absl::StrFormat("%s exists and is not a directory; move it away or choose another "
                          "directory",
                          prefix));
    }
    return text::ErrnoError(err, absl::StrFormat("cannot create directory %s: %s; check that its parent "
                                           "is writable by this user",
                                           prefix, std::strerror(err)));
  }
  return absl::OkStatus();
}

}  // namespace mpswitch::control::trust
