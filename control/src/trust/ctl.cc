#include "mpswitch/control/trust/ctl.h"

#include <openssl/asn1.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include <algorithm>
#include <climits>
#include <ctime>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace mpswitch::control::trust {
namespace {

constexpr size_t kTlvHead = 3;          // tag byte + u16 length (§1)
constexpr size_t kFixedHead = 10;       // VERSION (5 bytes) + HEADERLENGTH (5 bytes)
constexpr size_t kRecordLengthTlv = 5;  // RECORDLENGTH opens every record (§3)
constexpr size_t kNone = static_cast<size_t>(-1);

struct MdCtxFree {
  void operator()(EVP_MD_CTX* c) const { EVP_MD_CTX_free(c); }
};
struct BioFree {
  void operator()(BIO* b) const { BIO_free(b); }
};

uint16_t U16(std::span<const uint8_t> f, size_t at) {
  return static_cast<uint16_t>(f[at] << 8 | f[at + 1]);
}

const char* HeaderTagName(uint8_t tag) {
  switch (tag) {
    case header_tag::kVersion: return "VERSION";
    case header_tag::kHeaderLength: return "HEADERLENGTH";
    case header_tag::kSignerId: return "SIGNERID";
    case header_tag::kSignerName: return "SIGNERNAME";
    case header_tag::kSerialNumber: return "SERIALNUMBER";
    case header_tag::kCaName: return "CANAME";
    case header_tag::kSignatureInfo: return "SIGNATUREINFO";
    // CUCM's spelling (§2), so the text matches what operators know from `show ctl`.
    case header_tag::kDigestAlgorithm: return "DIGESTALGORTITHM";
    case header_tag::kSignatureAlgoInfo: return "SIGNATUREALGOINFO";
    case header_tag::kSignatureAlgorithm: return "SIGNATUREALGORTITHM";
    case header_tag::kSignatureModulus: return "SIGNATUREMODULUS";
    case header_tag::kSignature: return "SIGNATURE";
    case header_tag::kPadding: return "PADDING";
    case header_tag::kFileName: return "FILENAME";
    case header_tag::kTimestamp: return "TIMESTAMP";
    case header_tag::kSignerVersion: return "SIGNERVERSION";
    default: return "unknown";
  }
}

const char* RecordTagName(uint8_t tag) {
  switch (tag) {
    case record_tag::kRecordLength: return "RECORDLENGTH";
    case record_tag::kDnsName: return "DNSNAME";
    case record_tag::kSubjectName: return "SUBJECTNAME";
    case record_tag::kFunction: return "FUNCTION";
    case record_tag::kIssuerName: return "ISSUERNAME";
    case record_tag::kSerialNumber: return "SERIALNUMBER";
    case record_tag::kPublicKey: return "PUBLICKEY";
    case record_tag::kSignature: return "SIGNATURE";
    case record_tag::kCertificate: return "CERTIFICATE";
    case record_tag::kIpAddress: return "IPADDRESS";
    case record_tag::kCertificateHash: return "CERTHASH";
    case record_tag::kHashAlgorithm: return "HASH ALGORITHM";
    default: return "unknown";
  }
}

// §5. Code 2 has no known producer, but reading it as SHA-256 cannot make a bad file pass: the
// PKCS#1 v1.5 DigestInfo inside the signature names the digest, so a wrong reading only fails.
const EVP_MD* DigestForCode(uint8_t code) {
  switch (code) {
    case digest_code::kSha1: return EVP_sha1();
    case digest_code::kSha256: return EVP_sha256();
    case digest_code::kSha512: return EVP_sha512();
    default: return nullptr;
  }
}

std::string DigestName(uint8_t code) {
  switch (code) {
    case digest_code::kSha1: return "SHA-1";
    case digest_code::kSha256: return "SHA-256";
    case digest_code::kSha512: return "SHA-512";
    default: return absl::StrFormat("unknown (%u)", unsigned{code});
  }
}

// Tag 11's codes are inferred (§5 [I]): 0/1/2/3 = 512/1024/2048/4096 bits. 0 = unknown code.
size_t ModulusBytes(uint8_t code) { return code <= 3 ? size_t{64} << code : 0; }

// Empty when OpenSSL cannot run the digest.
std::vector<uint8_t> Hash(const EVP_MD* md, std::span<const uint8_t> data) {
  std::vector<uint8_t> out(EVP_MAX_MD_SIZE);
  unsigned int n = 0;
  if (EVP_Digest(data.data(), data.size(), out.data(), &n, md, nullptr) != 1) {
    ERR_clear_error();
    return {};
  }
  out.resize(n);
  return out;
}

template <size_t N>
bool HashInto(const EVP_MD* md, std::span<const uint8_t> data, std::array<uint8_t, N>& out) {
  const std::vector<uint8_t> h = Hash(md, data);
  if (h.size() != N) return false;
  std::copy(h.begin(), h.end(), out.begin());
  return true;
}

// Serials are compared as unsigned integers (§6): the file writes minimal or fixed-width bytes
// without a DER sign byte, so leading zero bytes carry no meaning.
std::span<const uint8_t> Magnitude(std::span<const uint8_t> s) {
  size_t i = 0;
  while (i < s.size() && s[i] == 0) ++i;
  return s.subspan(i);
}

bool SameSerial(std::span<const uint8_t> a, std::span<const uint8_t> b) {
  const auto x = Magnitude(a);
  const auto y = Magnitude(b);
  return std::equal(x.begin(), x.end(), y.begin(), y.end());
}

struct CertSerial {
  std::vector<uint8_t> magnitude;
  bool negative = false;
};

CertSerial SerialOf(const X509* x) {
  CertSerial s;
  const ASN1_INTEGER* sn = X509_get0_serialNumber(x);
  if (sn == nullptr) return s;
  // OpenSSL keeps an INTEGER's content as magnitude bytes and the sign in the type.
  const unsigned char* p = ASN1_STRING_get0_data(sn);
  const int n = ASN1_STRING_length(sn);
  if (p != nullptr && n > 0) s.magnitude.assign(p, p + n);
  s.negative = ASN1_STRING_type(sn) == V_ASN1_NEG_INTEGER;
  return s;
}

UniqueX509 DecodeDer(std::span<const uint8_t> der, bool* trailing = nullptr) {
  if (trailing != nullptr) *trailing = false;
  if (der.empty()) return nullptr;
  const unsigned char* p = der.data();
  UniqueX509 x(d2i_X509(nullptr, &p, static_cast<long>(der.size())));
  if (trailing != nullptr) *trailing = x && p != der.data() + der.size();
  if (!x) ERR_clear_error();
  return x;
}

std::string ColonHex(std::span<const uint8_t> b) {
  std::string s;
  for (size_t i = 0; i < b.size(); ++i) absl::StrAppendFormat(&s, "%s%02X", i ? ":" : "", b[i]);
  return s.empty() ? "(empty)" : s;
}

std::string SpacedHex(std::span<const uint8_t> b) {
  std::string s;
  for (size_t i = 0; i < b.size(); ++i) absl::StrAppendFormat(&s, "%s%02X", i ? " " : "", b[i]);
  return s;
}

std::string LowerHex(std::span<const uint8_t> b) {
  std::string s;
  for (uint8_t x : b) absl::StrAppendFormat(&s, "%02x", x);
  return s;
}

// The file is untrusted: its text never reaches a terminal raw (escape sequences, NULs).
std::string Printable(std::string_view s) {
  std::string out;
  for (char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (u >= 0x20 && u < 0x7f && c != '\\') {
      out.push_back(c);
    } else {
      absl::StrAppendFormat(&out, "\\x%02x", u);
    }
  }
  return out;
}

absl::Status Malformed(const std::string& message) {
  return absl::InvalidArgumentError(message);
}

// One TLV as found: `value` is where its value starts (for a padding byte, just after it).
struct Tlv {
  uint8_t tag = 0;
  size_t offset = 0;
  size_t value = 0;
  uint16_t length = 0;
};

// Where TLVs are read, for the walk and its messages: errors start with `where` ("CTLFile.tlv:
// record 3 at offset 1210") and say which container a TLV overran ("the record").
struct Scope {
  std::string where;
  std::string container;
  size_t begin = 0;
  size_t end = 0;       // one past the container's last byte
  bool header = false;  // in the header a bare 13 is one padding byte (§1); in records it is a tag
};

const char* TagName(const Scope& s, uint8_t tag) {
  return s.header ? HeaderTagName(tag) : RecordTagName(tag);
}

// Calls `on_item(const Tlv&) -> absl::Status` for every TLV of [s.begin, s.end) in order; stops at
// the first error. Every length is checked against what remains of the container, never against
// the file, so nothing a TLV claims can reach past its container's end.
template <typename OnItem>
absl::Status Walk(std::span<const uint8_t> f, const Scope& s, OnItem&& on_item) {
  // Containers come from lengths already checked; this keeps every f[] below in range regardless.
  if (s.begin > s.end || s.end > f.size()) {
    return absl::InternalError(absl::StrFormat("%s: container [%zu, %zu) outside the %zu-byte file",
                                               s.where, s.begin, s.end, f.size()));
  }
  size_t pos = s.begin;
  while (pos < s.end) {
    const uint8_t tag = f[pos];
    if (s.header && tag == header_tag::kPadding) {
      absl::Status st = on_item(Tlv{tag, pos, pos + 1, 0});
      if (!st.ok()) return st;
      pos += 1;
      continue;
    }
    const size_t left = s.end - pos;
    if (left < kTlvHead) {
      return Malformed(absl::StrFormat(
          "%s: tag %u at offset %zu: only %zu byte(s) left before the end of %s (ends at %zu), too "
          "few for a tag and its length: trailing bytes that are not a TLV",
          s.where, unsigned{tag}, pos, left, s.container, s.end));
    }
    const uint16_t len = U16(f, pos + 1);
    if (len > left - kTlvHead) {
      return Malformed(absl::StrFormat(
          "%s: tag %u (%s) at offset %zu length %u runs past the end of %s (ends at %zu)", s.where,
          unsigned{tag}, TagName(s, tag), pos, unsigned{len}, s.container, s.end));
    }
    absl::Status st = on_item(Tlv{tag, pos, pos + kTlvHead, len});
    if (!st.ok()) return st;
    pos += kTlvHead + len;
  }
  return absl::OkStatus();
}

// Known tags appear at most once per scope. The format defines no repetition (§9 says so for tag
// 12), and a repeated field would let what is shown differ from what is verified or imported, so
// a repeat is refused rather than resolved (conservative).
class Once {
 public:
  Once() { first_.fill(kNone); }
  void Mark(uint8_t tag, size_t offset) { first_[tag] = offset; }
  absl::Status Check(const Scope& s, const Tlv& t) {
    if (first_[t.tag] != kNone) {
      return Malformed(
          absl::StrFormat("%s: tag %u (%s) at offset %zu repeats the one at offset %zu", s.where,
                          unsigned{t.tag}, TagName(s, t.tag), t.offset, first_[t.tag]));
    }
    first_[t.tag] = t.offset;
    return absl::OkStatus();
  }

 private:
  std::array<size_t, 256> first_;
};

absl::Status WantLength(const Scope& s, const Tlv& t, uint16_t want) {
  if (t.length == want) return absl::OkStatus();
  return Malformed(absl::StrFormat("%s: tag %u (%s) at offset %zu has length %u, expected %u",
                                   s.where, unsigned{t.tag}, TagName(s, t.tag), t.offset,
                                   unsigned{t.length}, unsigned{want}));
}

class Parser {
 public:
  Parser(std::span<const uint8_t> f, const std::string& source) : f_(f), source_(source) {}

  absl::Status Header(CtlHeader& h);
  absl::Status Records(size_t start, const ParseLimits& limits, std::vector<CtlRecord>& out);

 private:
  std::span<const uint8_t> Value(const Tlv& t) const { return f_.subspan(t.value, t.length); }
  std::vector<uint8_t> Bytes(const Tlv& t) const {
    const auto v = Value(t);
    return std::vector<uint8_t>(v.begin(), v.end());
  }
  // §9: strip one trailing NUL, don't require it.
  CtlText Text(const Tlv& t) const {
    auto v = Value(t);
    if (!v.empty() && v.back() == 0) v = v.first(v.size() - 1);
    return CtlText{std::string(v.begin(), v.end()), t.length};
  }
  Scope Inside(const Scope& outer, const Tlv& t) const {
    return Scope{absl::StrFormat("%s: %s (tag %u at offset %zu)", outer.where,
                                 TagName(outer, t.tag), unsigned{t.tag}, t.offset),
                 TagName(outer, t.tag), t.value, t.value + t.length, outer.header};
  }

  absl::Status SignerId(const Scope& outer, const Tlv& t, CtlHeader& h);
  absl::Status SignatureInfo(const Scope& outer, const Tlv& t, CtlHeader& h);
  absl::Status SignatureAlgoInfo(const Scope& outer, const Tlv& t, CtlHeader& h);
  absl::Status Record(const std::string& where, CtlRecord& r);
  absl::Status CheckCertificate(const Scope& s, const Tlv& cert, const Tlv* hash, CtlRecord& r);

  std::span<const uint8_t> f_;
  const std::string& source_;
};

absl::Status Parser::Header(CtlHeader& h) {
  const std::string where = absl::StrCat(source_, ": header");
  // §9: VERSION then HEADERLENGTH, each length 2, come first; nothing else is parsed before them.
  if (f_.size() < kFixedHead) {
    return Malformed(absl::StrFormat(
        "%s: the file is %zu byte(s), shorter than VERSION and HEADERLENGTH (10 bytes)", where,
        f_.size()));
  }
  if (f_[0] != header_tag::kVersion || U16(f_, 1) != 2) {
    return Malformed(absl::StrFormat(
        "%s: offset 0 holds tag %u length %u; a CTL/ITL file starts with VERSION (tag 1, length 2)",
        where, unsigned{f_[0]}, unsigned{U16(f_, 1)}));
  }
  if (f_[5] != header_tag::kHeaderLength || U16(f_, 6) != 2) {
    return Malformed(absl::StrFormat(
        "%s: offset 5 holds tag %u length %u; VERSION must be followed by HEADERLENGTH (tag 2, "
        "length 2)",
        where, unsigned{f_[5]}, unsigned{U16(f_, 6)}));
  }
  h.version_major = f_[3];
  h.version_minor = f_[4];
  h.header_length = U16(f_, 8);
  if (h.header_length < kFixedHead) {
    return Malformed(absl::StrFormat(
        "%s: HEADERLENGTH (tag 2 at offset 5) is %u, less than the 10 bytes of VERSION and "
        "HEADERLENGTH",
        where, unsigned{h.header_length}));
  }
  if (h.header_length > f_.size()) {
    return Malformed(absl::StrFormat(
        "%s: HEADERLENGTH (tag 2 at offset 5) is %u but the file has only %zu byte(s): truncated",
        where, unsigned{h.header_length}, f_.size()));
  }
  // The header's TLVs must end exactly at HEADERLENGTH: one overrunning it means the two disagree.
  const Scope s{where, "the header as HEADERLENGTH gives it", kFixedHead, h.header_length, true};
  Once once;
  once.Mark(header_tag::kVersion, 0);
  once.Mark(header_tag::kHeaderLength, 5);
  absl::Status st = Walk(f_, s, [&](const Tlv& t) -> absl::Status {
    switch (t.tag) {
      case header_tag::kPadding:
        ++h.padding_bytes;  // §9: seen only after TIMESTAMP, accepted anywhere
        return absl::OkStatus();
      case header_tag::kVersion:
      case header_tag::kHeaderLength:
        return once.Check(s, t);  // already seen at 0 and 5: always an error
      case header_tag::kSignerVersion: {
        absl::Status c = once.Check(s, t);
        if (c.ok()) c = WantLength(s, t, 2);
        if (!c.ok()) return c;
        h.signer_version = std::array<uint8_t, 2>{f_[t.value], f_[t.value + 1]};
        return absl::OkStatus();
      }
      case header_tag::kSignerId: {
        absl::Status c = once.Check(s, t);
        if (!c.ok()) return c;
        h.signer_id_length = t.length;
        return SignerId(s, t, h);
      }
      case header_tag::kSignatureInfo: {
        absl::Status c = once.Check(s, t);
        if (!c.ok()) return c;
        h.signature_info_length = t.length;
        return SignatureInfo(s, t, h);
      }
      case header_tag::kSignature: {
        absl::Status c = once.Check(s, t);  // §9: repeated tag 12 is refused
        if (!c.ok()) return c;
        if (t.length == 0) {
          return Malformed(absl::StrFormat("%s: SIGNATURE (tag 12 at offset %zu) is empty",
                                           s.where, t.offset));
        }
        h.signature = Bytes(t);
        h.signature_offset = t.offset;
        return absl::OkStatus();
      }
      case header_tag::kFileName: {
        absl::Status c = once.Check(s, t);
        if (!c.ok()) return c;
        h.file_name = Text(t);
        return absl::OkStatus();
      }
      case header_tag::kTimestamp: {
        absl::Status c = once.Check(s, t);
        if (c.ok()) c = WantLength(s, t, 4);
        if (!c.ok()) return c;
        const auto v = Value(t);
        h.timestamp = uint32_t{v[0]} << 24 | uint32_t{v[1]} << 16 | uint32_t{v[2]} << 8 | v[3];
        return absl::OkStatus();
      }
      default:
        // §9: unknown header tags (tag 28 is one older parsers lack) are skipped by length. Tags
        // 4-6 and 8-11 outside their containers land here too: the format has them nested.
        h.unknown.push_back(UnknownTag{t.tag, t.offset, t.length});
        return absl::OkStatus();
    }
  });
  if (!st.ok()) return st;
  if (h.signature.empty()) {
    return Malformed(absl::StrFormat(
        "%s: no SIGNATURE (tag 12) before HEADERLENGTH %u; an unsigned file cannot be verified",
        where, unsigned{h.header_length}));
  }
  return absl::OkStatus();
}

absl::Status Parser::SignerId(const Scope& outer, const Tlv& t, CtlHeader& h) {
  const Scope s = Inside(outer, t);
  Once once;
  return Walk(f_, s, [&](const Tlv& c) -> absl::Status {
    switch (c.tag) {
      case header_tag::kPadding:
        ++h.padding_bytes;
        return absl::OkStatus();
      case header_tag::kSignerName:
      case header_tag::kSerialNumber:
      case header_tag::kCaName: {
        absl::Status st = once.Check(s, c);
        if (!st.ok()) return st;
        if (c.tag == header_tag::kSignerName) h.signer_name = Text(c);
        if (c.tag == header_tag::kSerialNumber) h.signer_serial = Bytes(c);
        if (c.tag == header_tag::kCaName) h.ca_name = Text(c);
        return absl::OkStatus();
      }
      default:
        h.unknown.push_back(UnknownTag{c.tag, c.offset, c.length});
        return absl::OkStatus();
    }
  });
}

absl::Status Parser::SignatureInfo(const Scope& outer, const Tlv& t, CtlHeader& h) {
  const Scope s = Inside(outer, t);
  Once once;
  return Walk(f_, s, [&](const Tlv& c) -> absl::Status {
    switch (c.tag) {
      case header_tag::kPadding:
        ++h.padding_bytes;
        return absl::OkStatus();
      case header_tag::kDigestAlgorithm: {
        absl::Status st = once.Check(s, c);
        if (st.ok()) st = WantLength(s, c, 1);
        if (!st.ok()) return st;
        h.digest_code = f_[c.value];
        return absl::OkStatus();
      }
      case header_tag::kSignatureAlgoInfo: {
        absl::Status st = once.Check(s, c);
        if (!st.ok()) return st;
        h.signature_algo_info_length = c.length;
        return SignatureAlgoInfo(s, c, h);
      }
      default:
        h.unknown.push_back(UnknownTag{c.tag, c.offset, c.length});
        return absl::OkStatus();
    }
  });
}

absl::Status Parser::SignatureAlgoInfo(const Scope& outer, const Tlv& t, CtlHeader& h) {
  const Scope s = Inside(outer, t);
  Once once;
  return Walk(f_, s, [&](const Tlv& c) -> absl::Status {
    switch (c.tag) {
      case header_tag::kPadding:
        ++h.padding_bytes;
        return absl::OkStatus();
      case header_tag::kSignatureAlgorithm:
      case header_tag::kSignatureModulus: {
        absl::Status st = once.Check(s, c);
        if (st.ok()) st = WantLength(s, c, 1);
        if (!st.ok()) return st;
        if (c.tag == header_tag::kSignatureAlgorithm) h.signature_algorithm = f_[c.value];
        if (c.tag == header_tag::kSignatureModulus) h.modulus_code = f_[c.value];
        return absl::OkStatus();
      }
      default:
        h.unknown.push_back(UnknownTag{c.tag, c.offset, c.length});
        return absl::OkStatus();
    }
  });
}

absl::Status Parser::Records(size_t start, const ParseLimits& limits,
                             std::vector<CtlRecord>& out) {
  // §1: records follow the header to the end of the file; no count, no trailer.
  size_t pos = start;
  while (pos < f_.size()) {
    const size_t index = out.size() + 1;
    if (out.size() >= limits.max_records) {
      return absl::ResourceExhaustedError(absl::StrFormat(
          "%s: record %zu at offset %zu: more than %zu records, the limit for one trust list",
          source_, index, pos, limits.max_records));
    }
    const std::string where = absl::StrFormat("%s: record %zu at offset %zu", source_, index, pos);
    const size_t left = f_.size() - pos;
    if (left < kRecordLengthTlv) {
      return Malformed(absl::StrFormat(
          "%s: only %zu byte(s) left, too few for RECORDLENGTH (tag 1, length 2: 5 bytes): "
          "truncated, or trailing garbage",
          where, left));
    }
    if (f_[pos] != record_tag::kRecordLength || U16(f_, pos + 1) != 2) {
      return Malformed(absl::StrFormat(
          "%s: starts with tag %u length %u; a record starts with RECORDLENGTH (tag 1, length 2)",
          where, unsigned{f_[pos]}, unsigned{U16(f_, pos + 1)}));
    }
    const uint16_t len = U16(f_, pos + 3);
    if (len < kRecordLengthTlv) {
      return Malformed(absl::StrFormat(
          "%s: RECORDLENGTH %u is less than the 5 bytes of RECORDLENGTH itself", where,
          unsigned{len}));
    }
    if (len > left) {
      return Malformed(absl::StrFormat(
          "%s: RECORDLENGTH %u runs past the end of the file (ends at %zu, %zu byte(s) left): "
          "truncated",
          where, unsigned{len}, f_.size(), left));
    }
    CtlRecord r;
    r.index = index;
    r.offset = pos;
    r.length = len;
    absl::Status st = Record(where, r);
    if (!st.ok()) return st;
    out.push_back(std::move(r));
    pos += len;
  }
  return absl::OkStatus();
}

absl::Status Parser::Record(const std::string& where, CtlRecord& r) {
  const Scope s{where, "the record", r.offset + kRecordLengthTlv, r.offset + r.length, false};
  Once once;
  once.Mark(record_tag::kRecordLength, r.offset);
  Tlv cert{};
  Tlv hash{};
  bool have_cert = false;
  bool have_hash = false;
  absl::Status st = Walk(f_, s, [&](const Tlv& t) -> absl::Status {
    if (t.tag >= record_tag::kRecordLength && t.tag <= record_tag::kHashAlgorithm) {
      absl::Status c = once.Check(s, t);
      if (!c.ok()) return c;
    }
    switch (t.tag) {
      case record_tag::kDnsName: r.dns_name = Text(t); break;
      case record_tag::kSubjectName: r.subject_name = Text(t); break;
      case record_tag::kFunction: {
        absl::Status c = WantLength(s, t, 2);
        if (!c.ok()) return c;
        r.function = U16(f_, t.value);
        break;
      }
      case record_tag::kIssuerName: r.issuer_name = Text(t); break;
      case record_tag::kSerialNumber: r.serial = Bytes(t); break;
      case record_tag::kPublicKey: r.public_key = Bytes(t); break;
      case record_tag::kSignature: r.signature = Bytes(t); break;
      case record_tag::kCertificate:
        r.certificate = Bytes(t);
        cert = t;
        have_cert = true;
        break;
      // IPv6 is unknown (§3 [U]): any length is kept as bytes and shown in hex, never refused,
      // because the address is display only.
      case record_tag::kIpAddress: r.ip_address = Bytes(t); break;
      case record_tag::kCertificateHash:
        r.certificate_hash = Bytes(t);
        hash = t;
        have_hash = true;
        break;
      case record_tag::kHashAlgorithm: {
        absl::Status c = WantLength(s, t, 1);
        if (!c.ok()) return c;
        r.hash_algorithm = f_[t.value];
        break;
      }
      default:
        // §9: unknown record tags are skipped by length, staying inside the record (the walk
        // already checked that). Tag 13 is an ordinary tag here: bare padding is header-only.
        r.unknown.push_back(UnknownTag{t.tag, t.offset, t.length});
        break;
    }
    return absl::OkStatus();
  });
  if (!st.ok()) return st;
  if (have_cert) return CheckCertificate(s, cert, have_hash ? &hash : nullptr, r);
  return absl::OkStatus();
}

absl::Status Parser::CheckCertificate(const Scope& s, const Tlv& cert, const Tlv* hash,
                                      CtlRecord& r) {
  const auto der = Value(cert);
  bool trailing = false;
  const UniqueX509 x = DecodeDer(der, &trailing);
  // §9: a tag-9 certificate that is not DER refuses the file. Bytes after the certificate would be
  // data the fingerprint covers but nothing else reads: refused too.
  if (!x || trailing) {
    return Malformed(absl::StrFormat(
        "%s: CERTIFICATE (tag 9 at offset %zu, %u bytes) is not one DER X.509 certificate%s",
        s.where, cert.offset, unsigned{cert.length}, trailing ? " (bytes follow it)" : ""));
  }
  if (!HashInto(EVP_sha1(), der, r.certificate_sha1)) {
    return absl::InternalError(absl::StrFormat("%s: OpenSSL could not compute SHA-1", s.where));
  }
  CertSerial serial = SerialOf(x.get());
  r.certificate_serial = std::move(serial.magnitude);
  r.certificate_serial_negative = serial.negative;
  if (hash == nullptr) return absl::OkStatus();
  // Where tag 11 comes from is unknown (§3 [U]). The one sample (seed 004's ITL) is 20 bytes
  // labelled SHA-1 in a record without a certificate: it stands for the certificate. A record
  // holding both must then agree with itself; one that does not, or whose hash cannot be
  // checked, is refused rather than imported (conservative). Tag 12 absent: SHA-1, the only
  // algorithm seen.
  const uint8_t code = r.hash_algorithm.value_or(digest_code::kSha1);
  const EVP_MD* md = DigestForCode(code);
  if (md == nullptr) {
    return Malformed(absl::StrFormat(
        "%s: CERTHASH (tag 11 at offset %zu) cannot be checked against the certificate: HASH "
        "ALGORITHM (tag 12) %u is not a known digest",
        s.where, hash->offset, unsigned{code}));
  }
  const std::vector<uint8_t> computed = Hash(md, der);
  if (computed.empty()) {
    return absl::InternalError(absl::StrFormat("%s: OpenSSL could not compute %s", s.where,
                                               DigestName(code)));
  }
  if (!std::equal(computed.begin(), computed.end(), r.certificate_hash->begin(),
                  r.certificate_hash->end())) {
    return Malformed(absl::StrFormat(
        "%s: CERTHASH (tag 11 at offset %zu) %s is not the %s of the CERTIFICATE (tag 9 at offset "
        "%zu), %s",
        s.where, hash->offset, SpacedHex(*r.certificate_hash), DigestName(code), cert.offset,
        SpacedHex(computed)));
  }
  return absl::OkStatus();
}

// The record's claim to be the signer, for display: a SAST whose serial is the header's.
bool NamesHeaderSigner(const CtlRecord& r, const CtlHeader& h) {
  if (r.function != role::kSast || !h.signer_serial) return false;
  if (r.certificate) {
    return !r.certificate_serial_negative && SameSerial(r.certificate_serial, *h.signer_serial);
  }
  return r.serial && SameSerial(*r.serial, *h.signer_serial);
}

std::string Kind(const CtlFile& ctl) {
  const auto& n = ctl.header.file_name;
  return n && n->text.rfind("ITL", 0) == 0 ? "ITL" : "CTL";
}

std::string FormatTime(uint32_t t) {
  const std::time_t tt = static_cast<std::time_t>(t);
  std::tm tm{};
  if (gmtime_r(&tt, &tm) == nullptr) return std::to_string(t);
  char buf[64];
  const size_t n = std::strftime(buf, sizeof buf, "%a %b %d %H:%M:%S UTC %Y", &tm);
  return absl::StrFormat("%s (%u)", std::string(buf, n), t);
}

void Row(std::string& o, unsigned tag, std::string_view name, unsigned length,
         std::string_view value) {
  absl::StrAppendFormat(&o, "%u\t%s\t%u\t%s\n", tag, name, length, value);
}

void UnknownRows(std::string& o, const std::vector<UnknownTag>& unknown) {
  for (const UnknownTag& u : unknown) {
    Row(o, u.tag, "UNKNOWN", u.length, absl::StrFormat("(at offset %zu, skipped)", u.offset));
  }
}

}  // namespace

absl::StatusOr<CtlFile> ParseCtl(std::span<const uint8_t> file, std::string_view source,
                                 const ParseLimits& limits) {
  if (file.size() > limits.max_file_bytes) {
    return absl::ResourceExhaustedError(absl::StrFormat(
        "%s: %zu bytes, over the %zu-byte limit for a trust list; refused unread", source,
        file.size(), limits.max_file_bytes));
  }
  CtlFile out;
  out.source = std::string(source);
  out.file_size = file.size();
  Parser p(file, out.source);
  absl::Status st = p.Header(out.header);
  if (st.ok()) st = p.Records(out.header.header_length, limits, out.records);
  if (!st.ok()) return st;
  if (!HashInto(EVP_md5(), file, out.file_md5) || !HashInto(EVP_sha1(), file, out.file_sha1) ||
      !HashInto(EVP_sha256(), file, out.file_sha256)) {
    return absl::InternalError(absl::StrFormat("%s: OpenSSL could not hash the file", source));
  }
  return out;
}

absl::Status Verify(const CtlFile& ctl, std::span<const uint8_t> file, X509* signer) {
  const CtlHeader& h = ctl.header;
  const std::string& src = ctl.source;
  if (signer == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrFormat("%s: no signer certificate to verify with", src));
  }
  // Every offset below comes from the parse: the bytes must be the ones parsed.
  std::array<uint8_t, 32> sha256{};
  if (file.size() != ctl.file_size || !HashInto(EVP_sha256(), file, sha256) ||
      sha256 != ctl.file_sha256) {
    return absl::FailedPreconditionError(
        absl::StrFormat("%s: the bytes to verify are not the bytes that were parsed", src));
  }
  if (!h.digest_code) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "%s: the header has no DIGESTALGORTITHM (tag 8); refusing to guess the digest", src));
  }
  const EVP_MD* md = DigestForCode(*h.digest_code);
  if (md == nullptr) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "%s: the header's DIGESTALGORTITHM (tag 8) is %u, not a known digest (1 SHA-1, 2 SHA-256, "
        "3 SHA-512)",
        src, unsigned{*h.digest_code}));
  }
  // Tag 10 is always written (§2); only RSA (0) is known, so anything else, or nothing, is
  // refused rather than assumed.
  if (!h.signature_algorithm) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "%s: the header has no SIGNATUREALGORTITHM (tag 10); refusing to guess the scheme", src));
  }
  if (*h.signature_algorithm != 0) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "%s: the header's SIGNATUREALGORTITHM (tag 10) is %u; only 0 (RSA) is known", src,
        unsigned{*h.signature_algorithm}));
  }
  // Tag 11 is inferred (§5 [I]) but said to agree with the signature: a file where it does not, or
  // with a code we cannot read, contradicts itself and is refused (conservative). Absent: the
  // signature's length against the key decides below.
  if (h.modulus_code) {
    const size_t bytes = ModulusBytes(*h.modulus_code);
    if (bytes == 0) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "%s: the header's SIGNATUREMODULUS (tag 11) is %u, not a known key size (0-3: 512-4096 "
          "bits)",
          src, unsigned{*h.modulus_code}));
    }
    if (bytes != h.signature.size()) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "%s: the header's SIGNATUREMODULUS (tag 11) says %zu-bit keys but SIGNATURE (tag 12 at "
          "offset %zu) is %zu bytes",
          src, bytes * 8, h.signature_offset, h.signature.size()));
    }
  }
  if (!h.signer_serial || h.signer_serial->empty()) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "%s: the header's SIGNERID has no SERIALNUMBER (tag 5): it does not say who signed it",
        src));
  }
  // The header names its signer by serial (§6). Names are display only and a certificate's DN has
  // no canonical display form to compare with the header's text, so the serial decides.
  const CertSerial serial = SerialOf(signer);
  if (serial.negative || !SameSerial(serial.magnitude, *h.signer_serial)) {
    return absl::UnauthenticatedError(absl::StrFormat(
        "%s: the signer certificate's serial %s%s is not the header's signer serial %s "
        "(SERIALNUMBER, tag 5): it did not sign this file",
        src, serial.negative ? "-" : "", ColonHex(serial.magnitude), ColonHex(*h.signer_serial)));
  }
  EVP_PKEY* key = X509_get0_pubkey(signer);
  if (key == nullptr) {
    ERR_clear_error();
    return absl::UnauthenticatedError(
        absl::StrFormat("%s: the signer certificate's public key cannot be decoded", src));
  }
  if (EVP_PKEY_get_base_id(key) != EVP_PKEY_RSA) {
    return absl::UnauthenticatedError(absl::StrFormat(
        "%s: the signer certificate's key is not RSA; CTL/ITL files are RSA-signed", src));
  }
  // eTokens are 1024-bit (§7); anything weaker is not a key a trust list should rest on.
  const int bits = EVP_PKEY_get_bits(key);
  if (bits < 1024) {
    return absl::UnauthenticatedError(absl::StrFormat(
        "%s: the signer's RSA key has %d bits; fewer than 1024 is refused", src, bits));
  }
  const int key_bytes = EVP_PKEY_get_size(key);
  if (key_bytes <= 0 || static_cast<size_t>(key_bytes) != h.signature.size()) {
    return absl::UnauthenticatedError(absl::StrFormat(
        "%s: SIGNATURE (tag 12 at offset %zu) is %zu bytes but the signer's %d-bit key makes "
        "%d-byte signatures: another key signed this file",
        src, h.signature_offset, h.signature.size(), bits, key_bytes));
  }
  // §6: signed bytes = file[0:off] || file[off + 3 + N:], off = the tag-12 byte, N = its length.
  const size_t off = h.signature_offset;
  const size_t n = h.signature.size();
  if (off > file.size() || kTlvHead + n > file.size() - off) {
    return absl::InternalError(
        absl::StrFormat("%s: SIGNATURE offset %zu outside the file", src, off));
  }
  const size_t rest = off + kTlvHead + n;
  std::unique_ptr<EVP_MD_CTX, MdCtxFree> ctx(EVP_MD_CTX_new());
  EVP_PKEY_CTX* pctx = nullptr;  // owned by ctx
  if (!ctx || EVP_DigestVerifyInit(ctx.get(), &pctx, md, nullptr, key) != 1 ||
      EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PADDING) <= 0 ||
      EVP_DigestVerifyUpdate(ctx.get(), file.data(), off) != 1 ||
      EVP_DigestVerifyUpdate(ctx.get(), file.data() + rest, file.size() - rest) != 1) {
    ERR_clear_error();
    return absl::InternalError(absl::StrFormat(
        "%s: OpenSSL could not set up RSA PKCS#1 v1.5 verification with %s", src,
        DigestName(*h.digest_code)));
  }
  const int ok = EVP_DigestVerifyFinal(ctx.get(), h.signature.data(), n);
  ERR_clear_error();
  if (ok != 1) {
    return absl::UnauthenticatedError(absl::StrFormat(
        "%s: the signature (tag 12 at offset %zu, RSA PKCS#1 v1.5 with %s) does not verify with "
        "the signer's key: the file was altered after signing, or another key signed it",
        src, off, DigestName(*h.digest_code)));
  }
  return absl::OkStatus();
}

absl::StatusOr<UniqueX509> FindTrustedSigner(const CtlFile& ctl, TrustedPredicate is_trusted) {
  const CtlHeader& h = ctl.header;
  const std::string& src = ctl.source;
  if (!h.signer_serial || h.signer_serial->empty()) {
    return absl::NotFoundError(absl::StrFormat(
        "%s: the header's SIGNERID has no SERIALNUMBER (tag 5): no record can be its signer", src));
  }
  const CtlRecord* found = nullptr;
  std::string why_not;  // the last near miss, so the refusal says what disagreed
  for (const CtlRecord& r : ctl.records) {
    if (r.function != role::kSast || !r.certificate) continue;
    if (r.certificate_serial_negative || !SameSerial(r.certificate_serial, *h.signer_serial)) {
      continue;
    }
    // The record must agree with itself and with the header; the texts come from one producer.
    if (r.serial && !SameSerial(*r.serial, *h.signer_serial)) {
      why_not = absl::StrFormat("; record %zu's certificate has the serial but its SERIALNUMBER "
                                "(tag 6) is %s",
                                r.index, ColonHex(*r.serial));
      continue;
    }
    if (h.signer_name && r.subject_name && h.signer_name->text != r.subject_name->text) {
      why_not = absl::StrFormat("; record %zu has the serial but its SUBJECTNAME \"%s\" is not "
                                "the header's SIGNERNAME \"%s\"",
                                r.index, Printable(r.subject_name->text),
                                Printable(h.signer_name->text));
      continue;
    }
    if (h.ca_name && r.issuer_name && h.ca_name->text != r.issuer_name->text) {
      why_not = absl::StrFormat("; record %zu has the serial but its ISSUERNAME \"%s\" is not "
                                "the header's CANAME \"%s\"",
                                r.index, Printable(r.issuer_name->text),
                                Printable(h.ca_name->text));
      continue;
    }
    if (found != nullptr && *found->certificate != *r.certificate) {
      return absl::FailedPreconditionError(absl::StrFormat(
          "%s: records %zu and %zu both claim the signer serial %s with different certificates",
          src, found->index, r.index, ColonHex(*h.signer_serial)));
    }
    if (found == nullptr) found = &r;
  }
  if (found == nullptr) {
    return absl::NotFoundError(absl::StrFormat(
        "%s: no System Administrator Security Token record (function 0) with a certificate has the "
        "header's signer serial %s%s; give the signer certificate explicitly",
        src, ColonHex(*h.signer_serial), why_not));
  }
  if (!is_trusted(*found)) {
    return absl::PermissionDeniedError(absl::StrFormat(
        "%s: signed by record %zu (%s, SHA-1 %s), which is not a trusted signer: a file is "
        "never trusted on its own say-so; pin that certificate or give the signer explicitly",
        src, found->index,
        found->subject_name ? Printable(found->subject_name->text) : "no SUBJECTNAME",
        ColonHex(found->certificate_sha1)));
  }
  UniqueX509 x = DecodeDer(*found->certificate);
  if (!x) {
    return absl::InternalError(absl::StrFormat("%s: record %zu's certificate no longer decodes",
                                               src, found->index));
  }
  return absl::StatusOr<UniqueX509>(std::move(x));
}

absl::StatusOr<UniqueX509> SignerFromPem(std::string_view pem) {
  if (pem.empty() || pem.size() > static_cast<size_t>(INT_MAX)) {
    return absl::InvalidArgumentError("the signer PEM is empty or too large");
  }
  std::unique_ptr<BIO, BioFree> bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  if (!bio) {
    ERR_clear_error();
    return absl::InternalError("OpenSSL could not read the signer PEM");
  }
  UniqueX509 x(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
  if (!x) {
    ERR_clear_error();
    return absl::InvalidArgumentError("the signer PEM holds no readable X.509 certificate");
  }
  return absl::StatusOr<UniqueX509>(std::move(x));
}

std::string RoleName(uint16_t function) {
  switch (function) {
    case role::kSast: return "System Administrator Security Token";
    case role::kCcm: return "CCM";
    case role::kCcmTftp: return "CCM+TFTP";
    case role::kTftp: return "TFTP";
    case role::kCapf: return "CAPF";
    case role::kSrst: return "SRST";
    case role::kAppServer: return "APP-SERVER";
    case role::kTvs: return "TVS";
    default: return absl::StrFormat("Unknown (%u)", unsigned{function});
  }
}

std::string FormatCtl(const CtlFile& ctl, const std::optional<absl::Status>& verification) {
  const CtlHeader& h = ctl.header;
  const std::string kind = Kind(ctl);
  std::string o;
  absl::StrAppendFormat(&o, "Length of %s file: %zu\n", kind, ctl.file_size);
  absl::StrAppendFormat(&o, "%s(MD5)\n%s(SHA1)\n\n", LowerHex(ctl.file_md5),
                        LowerHex(ctl.file_sha1));
  absl::StrAppendFormat(&o, "Parse %s File\n\nVersion: %u.%u\nHeaderLength: %u (BYTES)\n\n", kind,
                        unsigned{h.version_major}, unsigned{h.version_minor},
                        unsigned{h.header_length});
  const char* kColumns = "BYTEPOS\tTAG\tLENGTH\tVALUE\n-------\t---\t------\t-----\n";
  o += kColumns;
  if (h.signer_version) {
    const std::array<uint8_t, 2>& v = *h.signer_version;
    Row(o, 28, "SIGNERVERSION", 2, absl::StrFormat("%u.%u", unsigned{v[0]}, unsigned{v[1]}));
  }
  // Containers print the width of their length field (2) and its value, as `show ctl` does.
  if (h.signer_id_length) Row(o, 3, "SIGNERID", 2, std::to_string(*h.signer_id_length));
  if (h.signer_name) Row(o, 4, "SIGNERNAME", h.signer_name->length, Printable(h.signer_name->text));
  if (h.signer_serial) {
    Row(o, 5, "SERIALNUMBER", static_cast<unsigned>(h.signer_serial->size()),
        ColonHex(*h.signer_serial));
  }
  if (h.ca_name) Row(o, 6, "CANAME", h.ca_name->length, Printable(h.ca_name->text));
  if (h.signature_info_length) {
    Row(o, 7, "SIGNATUREINFO", 2, std::to_string(*h.signature_info_length));
  }
  if (h.digest_code) Row(o, 8, "DIGESTALGORTITHM", 1, DigestName(*h.digest_code));
  if (h.signature_algo_info_length) {
    Row(o, 9, "SIGNATUREALGOINFO", 2, std::to_string(*h.signature_algo_info_length));
  }
  if (h.signature_algorithm) {
    Row(o, 10, "SIGNATUREALGORTITHM", 1,
        *h.signature_algorithm == 0
            ? std::string("RSA")
            : absl::StrFormat("unknown (%u)", unsigned{*h.signature_algorithm}));
  }
  if (h.modulus_code) {
    const size_t bytes = ModulusBytes(*h.modulus_code);
    Row(o, 11, "SIGNATUREMODULUS", 1,
        bytes ? absl::StrFormat("%zu bits", bytes * 8)
              : absl::StrFormat("unknown (%u)", unsigned{*h.modulus_code}));
  }
  Row(o, 12, "SIGNATURE", static_cast<unsigned>(h.signature.size()), "");
  for (size_t i = 0; i < h.signature.size(); i += 16) {
    const size_t n = std::min<size_t>(16, h.signature.size() - i);
    absl::StrAppendFormat(&o, "\t\t\t%s\n",
                          SpacedHex(std::span<const uint8_t>(h.signature).subspan(i, n)));
  }
  if (h.file_name) Row(o, 14, "FILENAME", h.file_name->length, Printable(h.file_name->text));
  if (h.timestamp) Row(o, 15, "TIMESTAMP", 4, FormatTime(*h.timestamp));
  UnknownRows(o, h.unknown);

  for (const CtlRecord& r : ctl.records) {
    absl::StrAppendFormat(&o, "\n%s Record #:%zu\n", kind, r.index);
    o += kColumns;
    Row(o, 1, "RECORDLENGTH", 2, std::to_string(r.length));
    if (r.dns_name) Row(o, 2, "DNSNAME", r.dns_name->length, Printable(r.dns_name->text));
    if (r.subject_name) {
      Row(o, 3, "SUBJECTNAME", r.subject_name->length, Printable(r.subject_name->text));
    }
    if (r.function) Row(o, 4, "FUNCTION", 2, RoleName(*r.function));
    if (r.issuer_name) {
      Row(o, 5, "ISSUERNAME", r.issuer_name->length, Printable(r.issuer_name->text));
    }
    if (r.serial) {
      Row(o, 6, "SERIALNUMBER", static_cast<unsigned>(r.serial->size()), ColonHex(*r.serial));
    }
    if (r.public_key) Row(o, 7, "PUBLICKEY", static_cast<unsigned>(r.public_key->size()), "");
    if (r.signature) Row(o, 8, "SIGNATURE", static_cast<unsigned>(r.signature->size()), "");
    if (r.certificate) {
      Row(o, 9, "CERTIFICATE", static_cast<unsigned>(r.certificate->size()),
          absl::StrCat(SpacedHex(r.certificate_sha1), " (SHA1 Hash HEX)"));
    }
    if (r.ip_address) {
      const auto& ip = *r.ip_address;
      Row(o, 10, "IPADDRESS", static_cast<unsigned>(ip.size()),
          ip.size() == 4 ? absl::StrFormat("%u.%u.%u.%u", ip[0], ip[1], ip[2], ip[3])
                         : SpacedHex(ip));
    }
    if (r.certificate_hash) {
      Row(o, 11, "CERTHASH", static_cast<unsigned>(r.certificate_hash->size()),
          SpacedHex(*r.certificate_hash));
    }
    if (r.hash_algorithm) Row(o, 12, "HASH ALGORITHM", 1, DigestName(*r.hash_algorithm));
    UnknownRows(o, r.unknown);
    if (r.function == role::kSast) {
      absl::StrAppendFormat(&o, "\nThis etoken %s used to sign the %s file.\n",
                            NamesHeaderSigner(r, h) ? "was" : "was not", kind);
    }
  }

  if (!verification) {
    absl::StrAppendFormat(&o, "\nThe %s file was not verified (no trusted signer given).\n", kind);
  } else if (verification->ok()) {
    absl::StrAppendFormat(&o, "\nThe %s file was verified successfully.\n", kind);
  } else {
    absl::StrAppendFormat(&o, "\nVerification of the %s file failed: %s\n", kind,
                          Printable(std::string(verification->message())));
  }
  return o;
}

ImportSet CertificatesForImport(const CtlFile& ctl) {
  ImportSet out;
  for (const CtlRecord& r : ctl.records) {
    if (!r.certificate || !r.function) continue;
    std::vector<ImportCertificate>* unit = nullptr;
    if (*r.function == role::kCcm || *r.function == role::kCcmTftp) unit = &out.ctm_trust;
    if (*r.function == role::kCapf) unit = &out.capf_trust;
    if (unit == nullptr) continue;
    // §9: one certificate may be listed under several roles (the ITL lists CallManager twice).
    const bool seen = std::any_of(unit->begin(), unit->end(), [&](const ImportCertificate& c) {
      return c.der == *r.certificate;
    });
    if (seen) continue;
    unit->push_back(ImportCertificate{r.index, *r.function, *r.certificate, r.certificate_sha1});
  }
  return out;
}

}  // namespace mpswitch::control::trust
