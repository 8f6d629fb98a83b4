// CTL / ITL trust-list files (`CTLFile.tlv`, `ITLFile.tlv`, `CTLSEP<MAC>.tlv`, `ITLSEP<MAC>.tlv`):
// one bounds-checked parser, one signature verifier, one `show ctl`-style printer, and the
// selection of the certificates `mpswitch ctl import` puts into CTM-trust and CAPF-trust. The
// format, byte by byte, is ../shared/CTL-FORMAT.md (§ numbers below refer to it).
//
// What a caller does (`mpswitch ctl show FILE [--signer PEM]`, `mpswitch ctl import FILE`):
//   auto ctl = ParseCtl(bytes, "CTLFile.tlv");               // structure only, nothing trusted yet
//   auto signer = have_pem ? SignerFromPem(pem)               // the operator names the signer, or
//                          : FindTrustedSigner(*ctl, in_trust_store);  // a SAST already pinned
//   absl::Status st = signer.ok() ? Verify(*ctl, bytes, signer->get()) : signer.status();
//   std::cout << FormatCtl(*ctl, st);
//   if (st.ok()) for (auto& c : CertificatesForImport(*ctl).ctm_trust) ...
// Integrity is not trust (§6): a file only ever verifies against a certificate the caller already
// trusts; the signer a file names is never believed on its own say-so.
//
// Thread-safety: every function is reentrant; a CtlFile is a plain value. Errors are absl::Status
// with one line naming the file, the byte offset and the tag; nothing throws.
#pragma once

#include <openssl/x509.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace mpswitch::control::trust {

// Header tags (§2). Tags 4-6 live inside SIGNERID (3), 8-9 inside SIGNATUREINFO (7), 10-11 inside
// SIGNATUREALGOINFO (9).
namespace header_tag {
inline constexpr uint8_t kVersion = 1;
inline constexpr uint8_t kHeaderLength = 2;
inline constexpr uint8_t kSignerId = 3;
inline constexpr uint8_t kSignerName = 4;
inline constexpr uint8_t kSerialNumber = 5;
inline constexpr uint8_t kCaName = 6;
inline constexpr uint8_t kSignatureInfo = 7;
inline constexpr uint8_t kDigestAlgorithm = 8;
inline constexpr uint8_t kSignatureAlgoInfo = 9;
inline constexpr uint8_t kSignatureAlgorithm = 10;
inline constexpr uint8_t kSignatureModulus = 11;
inline constexpr uint8_t kSignature = 12;
inline constexpr uint8_t kPadding = 13;  // one bare byte, no length (§1)
inline constexpr uint8_t kFileName = 14;
inline constexpr uint8_t kTimestamp = 15;
inline constexpr uint8_t kSignerVersion = 28;  // certutils only
}  // namespace header_tag

// Record tags (§3).
namespace record_tag {
inline constexpr uint8_t kRecordLength = 1;
inline constexpr uint8_t kDnsName = 2;
inline constexpr uint8_t kSubjectName = 3;
inline constexpr uint8_t kFunction = 4;
inline constexpr uint8_t kIssuerName = 5;
inline constexpr uint8_t kSerialNumber = 6;
inline constexpr uint8_t kPublicKey = 7;
inline constexpr uint8_t kSignature = 8;
inline constexpr uint8_t kCertificate = 9;
inline constexpr uint8_t kIpAddress = 10;
inline constexpr uint8_t kCertificateHash = 11;
inline constexpr uint8_t kHashAlgorithm = 12;
}  // namespace record_tag

// FUNCTION codes (§4). ITLRecovery has no code of its own: it is a SAST (0), told apart only by
// its display name, which is never identity.
namespace role {
inline constexpr uint16_t kSast = 0;
inline constexpr uint16_t kCcm = 1;
inline constexpr uint16_t kCcmTftp = 2;
inline constexpr uint16_t kTftp = 3;
inline constexpr uint16_t kCapf = 4;
inline constexpr uint16_t kSrst = 5;
inline constexpr uint16_t kAppServer = 7;
inline constexpr uint16_t kTvs = 21;
}  // namespace role

// Digest codes of header tag 8 and (inferred) record tag 12 (§5).
namespace digest_code {
inline constexpr uint8_t kSha1 = 1;
inline constexpr uint8_t kSha256 = 2;
inline constexpr uint8_t kSha512 = 3;
}  // namespace digest_code

inline constexpr size_t kDefaultMaxFileBytes = size_t{4} << 20;
inline constexpr size_t kDefaultMaxRecords = 1024;

// Refusals before any work: the format itself has no file-size limit (§1), so a caller that reads
// a file from disk or the network bounds it here.
struct ParseLimits {
  size_t max_file_bytes = kDefaultMaxFileBytes;
  size_t max_records = kDefaultMaxRecords;
};

// A tag the parser does not know, skipped by its length (§9). Kept so the printer can show it.
struct UnknownTag {
  uint8_t tag = 0;
  size_t offset = 0;  // of the tag byte in the file
  uint16_t length = 0;
};

// A display string (§9: names are display only, never identity): the value with one trailing NUL
// stripped (not required), and the TLV's length as stored, which `show ctl` prints.
struct CtlText {
  std::string text;
  uint16_t length = 0;
};

struct CtlHeader {
  uint8_t version_major = 0;
  uint8_t version_minor = 0;
  uint16_t header_length = 0;                           // tag 2, checked against the TLVs
  std::optional<std::array<uint8_t, 2>> signer_version;  // tag 28
  std::optional<uint16_t> signer_id_length;             // tag 3 (container)
  std::optional<CtlText> signer_name;                   // tag 4
  std::optional<std::vector<uint8_t>> signer_serial;    // tag 5, big-endian unsigned
  std::optional<CtlText> ca_name;                       // tag 6
  std::optional<uint16_t> signature_info_length;        // tag 7 (container)
  std::optional<uint8_t> digest_code;                   // tag 8 (raw code, §5)
  std::optional<uint16_t> signature_algo_info_length;   // tag 9 (container)
  std::optional<uint8_t> signature_algorithm;           // tag 10 (0 = RSA)
  std::optional<uint8_t> modulus_code;                  // tag 11 (raw code, §5)
  std::vector<uint8_t> signature;                       // tag 12, always present and non-empty
  size_t signature_offset = 0;                          // of the tag-12 byte
  std::optional<CtlText> file_name;                     // tag 14
  std::optional<uint32_t> timestamp;                    // tag 15, Unix seconds
  size_t padding_bytes = 0;                             // bare tag-13 bytes
  std::vector<UnknownTag> unknown;
};

struct CtlRecord {
  size_t index = 0;                                     // 1-based, as `show ctl` numbers them
  size_t offset = 0;                                    // of the RECORDLENGTH tag byte
  uint16_t length = 0;                                  // RECORDLENGTH: the whole record
  std::optional<CtlText> dns_name;                      // tag 2
  std::optional<CtlText> subject_name;                  // tag 3
  std::optional<uint16_t> function;                     // tag 4 (role::k*, or any other code)
  std::optional<CtlText> issuer_name;                   // tag 5
  std::optional<std::vector<uint8_t>> serial;           // tag 6, big-endian unsigned
  std::optional<std::vector<uint8_t>> public_key;       // tag 7 (PKCS#1 or an EC point)
  std::optional<std::vector<uint8_t>> signature;        // tag 8 (the certificate's own)
  std::optional<std::vector<uint8_t>> certificate;      // tag 9, DER X.509 (checked to decode)
  std::optional<std::vector<uint8_t>> ip_address;       // tag 10 (4 bytes IPv4; others shown hex)
  std::optional<std::vector<uint8_t>> certificate_hash;  // tag 11
  std::optional<uint8_t> hash_algorithm;                // tag 12
  std::vector<UnknownTag> unknown;
  // Set when `certificate` is: computed by the parser over the DER bytes (what
  // `openssl x509 -fingerprint -sha1` prints), and the certificate's serial as unsigned magnitude.
  std::array<uint8_t, 20> certificate_sha1{};
  std::vector<uint8_t> certificate_serial;
  bool certificate_serial_negative = false;
};

struct CtlFile {
  std::string source;  // the name errors and the printer use (e.g. the path given)
  size_t file_size = 0;
  // Of the whole file: MD5 and SHA-1 are what `show ctl` and phones display; SHA-256 binds a
  // later Verify call to the very bytes parsed here.
  std::array<uint8_t, 16> file_md5{};
  std::array<uint8_t, 20> file_sha1{};
  std::array<uint8_t, 32> file_sha256{};
  CtlHeader header;
  std::vector<CtlRecord> records;
};

// Parses `file` (a CTL or ITL; the formats are the same, §7). Checks structure only: every
// length against what remains of its container, tags 1 and 2 first, HEADERLENGTH equal to where
// the header's TLVs end, exactly one SIGNATURE, known fixed-size fields at their size, no known
// tag twice in one scope, records that start with RECORDLENGTH and end exactly at their end, every
// CERTIFICATE a whole DER X.509 certificate, and a CERTIFICATE HASH next to a certificate equal to
// the certificate's hash. Nothing in the result is authenticated until Verify succeeds.
// `source` names the file in error messages. Errors: InvalidArgument (malformed, with the byte
// offset and the tag), ResourceExhausted (over `limits`), Internal (OpenSSL failed).
absl::StatusOr<CtlFile> ParseCtl(std::span<const uint8_t> file,
                                 std::string_view source = "CTL file",
                                 const ParseLimits& limits = {});

struct X509Free {
  void operator()(X509* x) const { X509_free(x); }
};
using UniqueX509 = std::unique_ptr<X509, X509Free>;

// Checks the file's signature with `signer`'s public key (§6): RSASSA-PKCS1-v1_5 with the digest
// header tag 8 names (1 SHA-1, 2 SHA-256, 3 SHA-512), over the whole file minus the SIGNATURE TLV
// (its tag, length and value). Refuses a file whose digest or signature algorithm is missing or
// unknown, whose SIGNATUREMODULUS disagrees with its signature, whose header has no signer serial,
// and a `signer` whose serial is not that serial (compared as unsigned integers) or whose key is
// not RSA of at least 1024 bits. `file` must be the bytes `ctl` was parsed from (checked).
// `signer` is borrowed; whether it deserves trust is the caller's decision (SignerFromPem,
// FindTrustedSigner). Errors: Unauthenticated (signature or signer does not match),
// InvalidArgument (header cannot be verified), FailedPrecondition (other bytes), Internal.
absl::Status Verify(const CtlFile& ctl, std::span<const uint8_t> file, X509* signer);

// Says whether a record's certificate is already trusted (e.g. its SHA-1 fingerprint is pinned in
// the trust store). Called only with records that carry a certificate.
using TrustedPredicate = absl::FunctionRef<bool(const CtlRecord& record)>;

// The signer among the file's own SAST records (function 0; ITLRecovery is one too): the record
// whose certificate's serial equals the header's signer serial, whose SERIALNUMBER (if present)
// is that serial too and whose SUBJECTNAME/ISSUERNAME texts (if present) equal the header's
// SIGNERNAME/CANAME texts (the same producer writes both, so they are compared as bytes; they
// are never compared with the certificate's DN, which has no canonical display form). Files can
// hold two SASTs: the serial decides, never the order. Returned only if `is_trusted` accepts the
// record. Errors: NotFound (no such record), FailedPrecondition (two different certificates
// match), PermissionDenied (found but not trusted).
absl::StatusOr<UniqueX509> FindTrustedSigner(const CtlFile& ctl, TrustedPredicate is_trusted);

// The signer an operator gives explicitly (`--signer PEM`): the first certificate of `pem`. Giving
// it is the trust decision; Verify still checks it is the certificate the header names.
absl::StatusOr<UniqueX509> SignerFromPem(std::string_view pem);

// Text like CUCM's `show ctl` / `show itl` (§8): file length and hashes, version and header
// length, the header's TLV rows, then per record its rows (roles by name, serials colon hex, the
// certificate's SHA-1 as spaced hex), whether each SAST signed the file, and a last line from
// `verification`: nullopt = not verified, OK = verified, an error = why verification failed.
// Display strings are escaped (bytes outside printable ASCII as \xNN): the file is untrusted
// input and must not reach a terminal raw.
std::string FormatCtl(const CtlFile& ctl,
                      const std::optional<absl::Status>& verification = std::nullopt);

// `show ctl`'s name of a FUNCTION code: "System Administrator Security Token", "CCM",
// "CCM+TFTP", "TFTP", "CAPF", "SRST", "APP-SERVER", "TVS", otherwise "Unknown (N)".
std::string RoleName(uint16_t function);

// A certificate to import, with where it came from.
struct ImportCertificate {
  size_t record_index = 0;
  uint16_t function = 0;
  std::vector<uint8_t> der;
  std::array<uint8_t, 20> sha1{};
};

// What `ctl import` puts into the trust units (PROTOCOLS.md §9): CallManager certificates (CCM,
// CCM+TFTP) into CTM-trust, CAPF certificates into CAPF-trust, each certificate once (one
// certificate may be listed under several roles, §9). Records without a certificate (stubs, hash
// only) and other roles contribute nothing. Call only on a file Verify accepted.
struct ImportSet {
  std::vector<ImportCertificate> ctm_trust;
  std::vector<ImportCertificate> capf_trust;
};
ImportSet CertificatesForImport(const CtlFile& ctl);

}  // namespace mpswitch::control::trust
