// The switch's trust units (PROTOCOLS.md §9; seed guide 002 chapter 3, "Uploading Downloaded
// Security Certificates to CTMS"): a directory with one subdirectory per unit,
//
//   DIR/CAPF-trust/   the CAPF root(s) that issue LSCs (the switch's own and its peers')
//   DIR/CTM-trust/    one CallManager certificate per call-control node (CUCM0..n)
//
// each holding one certificate per PEM file named `<subject CN>_<serial hex>.pem`. What
// `mpswitch cert upload|list|show|delete` call, and where the SIP-TLS side gets its X509_STORE.
//
//   auto store = TrustStore::Open("/var/lib/mpswitch/trust");
//   auto row = store->Upload(TrustUnit::kCapfTrust, bytes_of_CAPF_der, "CAPF.der");
//   auto x509_store = store->StoreFor({TrustUnit::kCapfTrust, TrustUnit::kCtmTrust});
//
// Every change is atomic (temp file in the same directory, fsync, rename, fsync of the
// directory) and serialised per unit with flock(2) on the unit directory, so a failed or
// interrupted command leaves the unit exactly as it was and two concurrent uploads of one
// certificate store it once. A TrustStore is a path, not a cache: every call reads the disk.
//
// The file helpers and X.509 helpers at the end are shared by lsc.h and dev_pki.h.
//
// Thread-safety: every function is reentrant; TrustStore is a value (copyable). Errors are
// absl::Status with one line naming the file and what to do; nothing throws.
#pragma once

#include <openssl/evp.h>
#include <openssl/x509.h>
#include <sys/types.h>

#include <array>
#include <cstddef>
#include <initializer_list>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace mpswitch::control::trust {

// Owning OpenSSL pointers. (ctl.h's UniqueX509 is the same thing under another name; the two
// convert with release().)
struct X509Deleter {
  void operator()(X509* x) const { X509_free(x); }
};
using X509Ptr = std::unique_ptr<X509, X509Deleter>;
struct X509StoreDeleter {
  void operator()(X509_STORE* s) const { X509_STORE_free(s); }
};
using X509StorePtr = std::unique_ptr<X509_STORE, X509StoreDeleter>;
struct X509NameDeleter {
  void operator()(X509_NAME* n) const { X509_NAME_free(n); }
};
using X509NamePtr = std::unique_ptr<X509_NAME, X509NameDeleter>;
struct EvpPkeyDeleter {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
using EvpPkeyPtr = std::unique_ptr<EVP_PKEY, EvpPkeyDeleter>;

enum class TrustUnit { kCapfTrust, kCtmTrust };
inline constexpr std::array<TrustUnit, 2> kAllTrustUnits = {TrustUnit::kCapfTrust,
                                                            TrustUnit::kCtmTrust};

// "CAPF-trust" / "CTM-trust": the unit's directory name and what the seed's window shows.
std::string_view TrustUnitName(TrustUnit unit);
// The unit an operator names, case-insensitively ("CAPF-trust", "capf-trust", "CTM-TRUST").
// Error: InvalidArgument naming the two units.
absl::StatusOr<TrustUnit> ParseTrustUnit(std::string_view text);

// One line of the "Digital Security Certificates" window (seed guide 002, figure 3-3), plus what
// an operator needs to tell certificates apart.
struct CertificateRow {
  TrustUnit unit = TrustUnit::kCapfTrust;
  std::string category = "trust";  // every unit here is a trust unit
  std::string name;                // the file name in the unit, e.g. "cucm0_1A2B3C.pem"
  std::string subject;             // RFC 2253, e.g. "CN=cucm0,O=Example"
  std::string issuer;              // RFC 2253
  std::string serial_hex;          // upper-case hex, no separators ("-" first if negative)
  absl::Time not_after;
  std::string not_after_text;      // "2035-12-04 17:31:00 UTC"
  std::string sha1_fingerprint;    // "AB:CD:...", as `openssl x509 -fingerprint -sha1` prints it
  std::string sha256_fingerprint;  // same form; what duplicates are recognised by
};

class TrustStore {
 public:
  // The store rooted at `dir`. With `create`, `dir` and both unit directories are made (mode
  // 0755) if missing; without, `dir` must exist (a missing unit directory reads as empty and is
  // made by the first Upload). Errors: NotFound (no such directory, with what to run),
  // FailedPrecondition (not a directory / cannot be created).
  static absl::StatusOr<TrustStore> Open(const std::string& dir, bool create = false);

  const std::string& dir() const { return dir_; }
  std::string UnitDir(TrustUnit unit) const;

  // Stores one certificate given as DER or PEM. `source` names the input in messages (the file
  // the operator gave). Refused, changing nothing: empty or oversized input (> 1 MiB), anything
  // that is not exactly one X.509 certificate (a private key, a CSR, other PEM blocks, several
  // certificates, trailing bytes, garbage) — InvalidArgument; a certificate the unit already
  // holds (same SHA-256 fingerprint) — AlreadyExists naming the file that holds it. Stored as
  // PEM, mode 0644, named from the subject CN (characters outside [A-Za-z0-9._-] become '_';
  // "certificate" when there is no CN) and the serial; a different certificate with the same
  // name gets "-2", "-3", ... Returns the stored certificate's row.
  absl::StatusOr<CertificateRow> Upload(TrustUnit unit, std::string_view bytes,
                                        std::string_view source = "the uploaded file");

  // Rows of every unit (CAPF-trust first), each unit sorted by name. A file in a unit that is
  // not a single PEM certificate is an error naming it (FailedPrecondition): a trust store
  // nobody can read back must not look smaller than it is.
  absl::StatusOr<std::vector<CertificateRow>> List() const;
  absl::StatusOr<std::vector<CertificateRow>> List(TrustUnit unit) const;

  // The certificate's full text: unit, name and fingerprints, then what `openssl x509 -text`
  // prints (names in RFC 2253), then the PEM. Errors: InvalidArgument (not a certificate name:
  // it must end in ".pem" and contain no '/'), NotFound.
  absl::StatusOr<std::string> Show(TrustUnit unit, std::string_view name) const;

  // Removes one certificate (atomic; the unit directory is fsynced). Errors as Show.
  absl::Status Delete(TrustUnit unit, std::string_view name);

  // The unit's certificates, sorted by file name, owned by the caller.
  absl::StatusOr<std::vector<X509Ptr>> Certificates(TrustUnit unit) const;

  // A new X509_STORE trusting every certificate of `units`. X509_V_FLAG_PARTIAL_CHAIN is set: a
  // certificate the operator put in a unit is a trust anchor even when it is not self-signed
  // (CTM-trust pins the nodes' own certificates; CAPF-trust may hold an intermediate). Errors:
  // FailedPrecondition when the units hold no certificate at all (with what to upload), and
  // those of Certificates.
  absl::StatusOr<X509StorePtr> StoreFor(std::span<const TrustUnit> units) const;
  absl::StatusOr<X509StorePtr> StoreFor(std::initializer_list<TrustUnit> units) const {
    return StoreFor(std::span<const TrustUnit>(units.begin(), units.size()));
  }

 private:
  explicit TrustStore(std::string dir) : dir_(std::move(dir)) {}
  absl::StatusOr<std::vector<std::string>> Names(TrustUnit unit) const;

  std::string dir_;
};

// A plain-text table of rows like the seed's window: Unit, Category, Certificate Name, Expires,
// Subject, one certificate per line, with a header and a "Showing 1 - N of N records" line.
std::string FormatCertificateTable(const std::vector<CertificateRow>& rows);

// ---- Shared helpers (lsc.cc, dev_pki.cc, the daemon's commands) ----

// Exactly one X.509 certificate, DER or PEM, with the refusals Upload describes.
absl::StatusOr<X509Ptr> ParseCertificate(std::string_view bytes, std::string_view source);
// Zero or more PEM certificates (a chain file); any other PEM block (a key, a CSR) or
// non-PEM text between blocks is refused. Errors: InvalidArgument naming `source`.
absl::StatusOr<std::vector<X509Ptr>> ParsePemCertificates(std::string_view pem,
                                                          std::string_view source);
std::string CertificateToPem(X509* cert);
// "AB:CD:..." over the DER encoding.
std::string CertificateFingerprint(const X509* cert, const EVP_MD* md);
// RFC 2253 text (XN_FLAG_RFC2253: most specific first, non-ASCII escaped).
std::string NameToRfc2253(const X509_NAME* name);
// The most specific CN (the last in DER order) as UTF-8, control characters replaced by '?';
// empty when there is none.
std::string CommonName(const X509_NAME* name);
std::string SerialHex(const X509* cert);
// An ASN1_TIME as absl::Time; InfinitePast when it cannot be read.
absl::Time Asn1TimeToTime(const ASN1_TIME* t);
std::string TimeText(absl::Time t);  // "2035-12-04 17:31:00 UTC"
// The first error on OpenSSL's queue as text (the queue is cleared), "" if none.
std::string OpenSslError();

// Reads a whole file of at most `max_bytes`. Errors: NotFound, PermissionDenied,
// ResourceExhausted (larger), Internal — each naming the file.
absl::StatusOr<std::string> ReadFileBounded(const std::string& path, size_t max_bytes = 1 << 20);
// Writes `contents` to `path` atomically: a temp file in the same directory (mode `mode` from
// its creation on; mkstemp is O_CREAT|O_EXCL), written, fsynced, renamed onto `path`, then the
// directory fsynced. With `replace_existing` false the rename refuses an existing `path`
// (renameat2 RENAME_NOREPLACE, or link(2) where the file system lacks it): AlreadyExists. On any
// failure the temp file is removed and `path` is untouched.
absl::Status WriteFileAtomic(const std::string& path, std::string_view contents, mode_t mode,
                             bool replace_existing);
// fsync(2) of a directory, so renames and unlinks in it survive a crash.
absl::Status SyncDirectory(const std::string& dir);
// mkdir -p with `mode` for the directories it creates (the parents of each new one fsynced).
absl::Status MakeDirectories(const std::string& dir, mode_t mode);

}  // namespace mpswitch::control::trust
