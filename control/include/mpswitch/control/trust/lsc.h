// The switch's Locally Significant Certificate (PROTOCOLS.md §9; seed guide 002 chapter 3,
// "Downloading LSCs on the CTMS"): the key, certificate and chain the switch presents on
// SIP-TLS, kept in a state directory. What `mpswitch lsc request|install|show` call:
//
//   Lsc lsc("/var/lib/mpswitch");
//   auto req = lsc.Request("CN=mpswitch-1,O=Example,OU=Video");   // key + CSR, give the CSR
//   ... the CAPF (or another CA in CAPF-trust) signs it ...
//   auto info = lsc.Install(cert_pem, chain_pem, trust_store);      // checked, then swapped in
//   auto show = lsc.Show();   // show->x509_subject_name goes into the SIP trunk security profile
//
// Files in the state directory:
//   lsc-pending.key  the key of the outstanding request (0600, PKCS#8 PEM, unencrypted)
//   lsc.csr          its CSR (PEM, SHA-256, signed with that key)
//   lsc.key          the LSC key  \  what [tls] lsc_key / lsc_cert / lsc_chain name. After an
//   lsc.pem          the LSC      |  Install they are symbolic links into lsc-current/, itself
//   lsc-chain.pem    its chain    /  a link to a directory lsc.v.XXXXXX (0700) holding the
//                                    three files: one rename(2) of lsc-current swaps all three.
// Regular files there (as `mpswitch pki init` writes them) are read the same way and replaced by
// the links on the first Install.
//
// Keys never leave these files: nothing here logs, prints or returns key bytes, and key bytes in
// memory are wiped after use. Thread-safety: one command at a time per state directory (the
// daemon's CLI runs one); functions are reentrant otherwise. Errors are absl::Status with one
// line naming the file and what to do; nothing throws.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "mpswitch/control/trust/trust_store.h"

namespace mpswitch::control::trust {

enum class KeyType { kEcdsaP256, kRsa2048 };

// A new private key. Errors: Internal (OpenSSL failed).
absl::StatusOr<EvpPkeyPtr> GenerateKey(KeyType type);

// Parses a subject written as an operator writes it, RFC 2253 order (most specific first):
// "CN=mpswitch-1,O=Example,OU=Video". Attributes CN, O, OU, L, ST, C, DC, serialNumber (names
// case-insensitive); spaces around ',' and '=' ignored; '\' escapes one character (or two hex
// digits); exactly one CN; no empty value; C two letters; at most 64 characters a value (RFC
// 5280 upper bounds). Refused with the position and what was expected (InvalidArgument): the
// OpenSSL "/CN=.../O=..." form, multi-valued RDNs ('+'), ';' separators, unknown attributes,
// control characters. The X509_NAME printed back with NameToRfc2253 is the text entered
// (modulo spaces and escapes).
absl::StatusOr<X509NamePtr> ParseSubject(std::string_view text);

// The PEM of `key` as unencrypted PKCS#8, for a file of mode 0600. The caller wipes it
// (OPENSSL_cleanse) when done.
absl::StatusOr<std::string> PrivateKeyToPem(EVP_PKEY* key);
// A private key from PEM text read from `source` (named in errors, never the bytes).
absl::StatusOr<EvpPkeyPtr> PrivateKeyFromPem(std::string_view pem, std::string_view source);

struct LscRequest {
  std::string csr_path;  // DIR/lsc.csr
  std::string csr_pem;
  std::string key_path;  // DIR/lsc-pending.key (its contents are never returned)
  std::string subject;   // RFC 2253, as the CSR carries it
};

struct LscInfo {
  // What an operator types into call control's SIP Trunk Security Profile, field "X.509 Subject
  // Name": the subject's CN (seed guide 002: "Subject: CN=XXX-000, O=cisco" -> "XXX-000").
  std::string x509_subject_name;
  std::string subject;  // the full subject, RFC 2253 ("CN=XXX-000,O=cisco")
  std::string issuer;   // RFC 2253
  std::string serial_hex;
  absl::Time not_before;
  absl::Time not_after;
  std::string not_before_text;  // "2025-12-04 17:31:00 UTC"
  std::string not_after_text;
  int64_t days_until_expiry = 0;  // whole days left, rounded down; negative once expired
  bool expired = false;
  bool expires_soon = false;  // less than kLscExpiryWarning left (or expired): warn the operator
  std::string sha1_fingerprint;
  size_t chain_certificates = 0;  // in lsc-chain.pem
  bool key_matches = false;       // lsc.key holds the certificate's key
  std::string key_path;
  std::string cert_path;
  std::string chain_path;
};

inline constexpr absl::Duration kLscExpiryWarning = absl::Hours(24 * 30);

// The error text of an LSC that is not for the switch's key: the seed guide's own words (PROTOCOLS
// §8), so operators find it in the guide; a hint follows after ": ".
inline constexpr std::string_view kLscKeyMismatchText = "TLS error: Error loading Private key file";

class Lsc {
 public:
  explicit Lsc(std::string state_dir);

  // Makes a key of `type` and a CSR for `subject_text` (ParseSubject), signed with the key
  // (SHA-256), written as lsc-pending.key (0600; temp file created 0600 with O_EXCL, fsynced and
  // renamed) and lsc.csr; the state directory is created (0700) if missing. An outstanding
  // request is kept unless `replace_pending` (its key may be at the CAPF right now): then
  // AlreadyExists. Errors: InvalidArgument (subject), AlreadyExists, the file errors of
  // WriteFileAtomic; on error nothing changed.
  absl::StatusOr<LscRequest> Request(std::string_view subject_text,
                                     KeyType type = KeyType::kEcdsaP256,
                                     bool replace_pending = false);

  // Installs the LSC the CA returned: `cert_bytes` one certificate (PEM or DER), `chain_bytes`
  // zero or more PEM certificates (intermediates, optionally the root). Checked before anything
  // changes, in this order:
  //   - the certificate is for the pending key (lsc-pending.key; without a pending request, the
  //     installed lsc.key, so a re-issued certificate for the same key installs too), else
  //     FailedPrecondition "TLS error: Error loading Private key file: <hint>";
  //   - it verifies (X509_verify_cert, at the current time) to a certificate in `trust`'s
  //     CAPF-trust with the chain as untrusted intermediates, else PermissionDenied naming the
  //     reason, the certificate and what to upload.
  // Then key + certificate + chain are installed at once (see the file layout above), the
  // pending request removed and the previous LSC's directory deleted. Returns what Show would.
  absl::StatusOr<LscInfo> Install(std::string_view cert_bytes, std::string_view chain_bytes,
                                  const TrustStore& trust);

  // The installed LSC as of `now`. Errors: NotFound (no LSC: what to run), FailedPrecondition
  // (unreadable files, naming them). A key that cannot be read or does not match is reported in
  // key_matches, not as an error, so `lsc show` still shows the certificate.
  absl::StatusOr<LscInfo> Show(absl::Time now) const;
  absl::StatusOr<LscInfo> Show() const { return Show(absl::Now()); }

  const std::string& state_dir() const { return dir_; }
  std::string KeyPath() const;         // DIR/lsc.key
  std::string CertPath() const;        // DIR/lsc.pem
  std::string ChainPath() const;       // DIR/lsc-chain.pem
  std::string PendingKeyPath() const;  // DIR/lsc-pending.key
  std::string CsrPath() const;         // DIR/lsc.csr

 private:
  std::string dir_;
};

}  // namespace mpswitch::control::trust
