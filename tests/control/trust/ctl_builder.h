// Builds CTL/ITL trust-list files from scratch for the tests, the fuzz target and its seed
// generator: RSA keys and self-signed certificates made in-process with OpenSSL, records and
// headers assembled by ../shared/CTL-FORMAT.md (§ numbers below), signed per its §6. It writes
// bytes from the document and never calls the parser, so the tests compare two independent
// readings of the format. Header-only; aborts when OpenSSL fails (nothing can follow without keys).
#pragma once

#include <openssl/asn1.h>
#include <openssl/bn.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "mpswitch/control/trust/ctl.h"

namespace mpswitch::testing::ctl {

namespace trust = ::mpswitch::control::trust;
using trust::UniqueX509;

struct PkeyFree {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
using UniquePkey = std::unique_ptr<EVP_PKEY, PkeyFree>;

[[noreturn]] inline void Die(const char* what) {
  std::fprintf(stderr, "ctl_builder: %s failed\n", what);
  std::abort();
}

inline UniquePkey NewRsaKey(unsigned bits = 2048) {
  UniquePkey k(EVP_RSA_gen(bits));
  if (!k) Die("EVP_RSA_gen");
  return k;
}

inline std::vector<uint8_t> DerOf(X509* x) {
  const int n = i2d_X509(x, nullptr);
  if (n <= 0) Die("i2d_X509");
  std::vector<uint8_t> out(static_cast<size_t>(n));
  unsigned char* p = out.data();
  if (i2d_X509(x, &p) != n) Die("i2d_X509");
  return out;
}

// §3 tag 7: an RSA key as DER PKCS#1 RSAPublicKey (270 bytes at 2048 bits).
inline std::vector<uint8_t> PublicKeyPkcs1(EVP_PKEY* key) {
  const int n = i2d_PublicKey(key, nullptr);
  if (n <= 0) Die("i2d_PublicKey");
  std::vector<uint8_t> out(static_cast<size_t>(n));
  unsigned char* p = out.data();
  if (i2d_PublicKey(key, &p) != n) Die("i2d_PublicKey");
  return out;
}

// §3 tag 8: the certificate's own signatureValue.
inline std::vector<uint8_t> CertSignatureValue(const X509* x) {
  const ASN1_BIT_STRING* sig = nullptr;
  const X509_ALGOR* alg = nullptr;
  X509_get0_signature(&sig, &alg, x);
  if (sig == nullptr) Die("X509_get0_signature");
  const unsigned char* p = ASN1_STRING_get0_data(sig);
  return std::vector<uint8_t>(p, p + ASN1_STRING_length(sig));
}

// A key, its self-signed certificate and the texts CUCM writes for it.
struct Identity {
  UniquePkey key;
  UniqueX509 cert;
  std::vector<uint8_t> der;
  std::string subject;          // CUCM display form `CN=…;OU=…;O=…;C=…` (§3); issuer text too
  std::vector<uint8_t> serial;  // as the file writes it: the unsigned magnitude, no sign byte
};

// `serial` is big-endian unsigned; one with its top bit set gets a DER sign byte in the
// certificate but none in the file (§9), which is what the parser must cope with.
inline Identity MakeIdentity(const std::string& cn, const std::vector<uint8_t>& serial,
                             unsigned bits = 2048, const std::string& ou = "mpswitch test") {
  Identity id;
  id.key = NewRsaKey(bits);
  id.cert.reset(X509_new());
  if (!id.cert) Die("X509_new");
  X509* x = id.cert.get();
  if (X509_set_version(x, 2) != 1) Die("X509_set_version");  // v3
  BIGNUM* bn = BN_bin2bn(serial.data(), static_cast<int>(serial.size()), nullptr);
  if (bn == nullptr) Die("BN_bin2bn");
  const bool serial_ok = BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)) != nullptr;
  BN_free(bn);
  if (!serial_ok) Die("BN_to_ASN1_INTEGER");
  if (X509_gmtime_adj(X509_getm_notBefore(x), 0) == nullptr ||
      X509_gmtime_adj(X509_getm_notAfter(x), 10L * 365 * 24 * 3600) == nullptr) {
    Die("X509_gmtime_adj");
  }
  X509_NAME* name = X509_get_subject_name(x);
  const std::pair<const char*, std::string> entries[] = {
      {"C", "US"}, {"O", "Cisco"}, {"OU", ou}, {"CN", cn}};
  for (const auto& [field, value] : entries) {
    if (X509_NAME_add_entry_by_txt(name, field, MBSTRING_ASC,
                                   reinterpret_cast<const unsigned char*>(value.c_str()), -1, -1,
                                   0) != 1) {
      Die("X509_NAME_add_entry_by_txt");
    }
  }
  if (X509_set_issuer_name(x, name) != 1) Die("X509_set_issuer_name");
  if (X509_set_pubkey(x, id.key.get()) != 1) Die("X509_set_pubkey");
  if (X509_sign(x, id.key.get(), EVP_sha256()) <= 0) Die("X509_sign");
  id.der = DerOf(x);
  id.subject = "CN=" + cn + ";OU=" + ou + ";O=Cisco;C=US";
  const ASN1_INTEGER* sn = X509_get0_serialNumber(x);
  const unsigned char* p = ASN1_STRING_get0_data(sn);
  id.serial.assign(p, p + ASN1_STRING_length(sn));
  return id;
}

// §1: tag, u16 big-endian length, value.
inline void PutTlv(std::vector<uint8_t>& out, uint8_t tag, const std::vector<uint8_t>& value) {
  if (value.size() > 0xffff) Die("a TLV over 65535 bytes");
  out.push_back(tag);
  out.push_back(static_cast<uint8_t>(value.size() >> 8));
  out.push_back(static_cast<uint8_t>(value.size()));
  out.insert(out.end(), value.begin(), value.end());
}

// §1: strings end in a NUL the length counts.
inline std::vector<uint8_t> Str(const std::string& s) {
  std::vector<uint8_t> v(s.begin(), s.end());
  v.push_back(0);
  return v;
}

inline std::vector<uint8_t> U16(uint16_t x) {
  return {static_cast<uint8_t>(x >> 8), static_cast<uint8_t>(x)};
}

inline std::vector<uint8_t> U32(uint32_t x) {
  return {static_cast<uint8_t>(x >> 24), static_cast<uint8_t>(x >> 16),
          static_cast<uint8_t>(x >> 8), static_cast<uint8_t>(x)};
}

inline std::vector<uint8_t> Sha1Of(const std::vector<uint8_t>& data) {
  std::vector<uint8_t> out(20);
  unsigned int n = 0;
  if (EVP_Digest(data.data(), data.size(), out.data(), &n, EVP_sha1(), nullptr) != 1 || n != 20) {
    Die("EVP_Digest");
  }
  return out;
}

using ExtraTlvs = std::vector<std::pair<uint8_t, std::vector<uint8_t>>>;

// One record's fields (§3); absent ones are not written. Written in CUCM's order, 1..12, then
// `extra` (unknown tags).
struct RecordSpec {
  std::optional<std::string> dns_name;
  std::optional<std::string> subject;
  std::optional<uint16_t> function;
  std::optional<std::string> issuer;
  std::optional<std::vector<uint8_t>> serial;
  std::optional<std::vector<uint8_t>> public_key;
  std::optional<std::vector<uint8_t>> signature;
  std::optional<std::vector<uint8_t>> certificate;
  std::optional<std::vector<uint8_t>> ip_address;
  std::optional<std::vector<uint8_t>> certificate_hash;
  std::optional<uint8_t> hash_algorithm;
  ExtraTlvs extra;
};

// A CUCM-style record for `id` in role `function`.
inline RecordSpec RecordFor(const Identity& id, uint16_t function, const std::string& dns = "",
                            std::optional<std::array<uint8_t, 4>> ip = std::nullopt) {
  RecordSpec r;
  r.dns_name = dns;
  r.subject = id.subject;
  r.function = function;
  r.issuer = id.subject;
  r.serial = id.serial;
  r.public_key = PublicKeyPkcs1(id.key.get());
  r.signature = CertSignatureValue(id.cert.get());
  r.certificate = id.der;
  if (ip) r.ip_address = std::vector<uint8_t>(ip->begin(), ip->end());
  return r;
}

// Adds the certificate's SHA-1 as tags 11/12 (seed 004's ITL shows them labelled SHA-1); with
// `drop_certificate` the record carries the hash instead of the certificate, as in that sample.
inline RecordSpec WithHash(RecordSpec r, bool drop_certificate) {
  if (!r.certificate) Die("WithHash without a certificate");
  r.certificate_hash = Sha1Of(*r.certificate);
  r.hash_algorithm = trust::digest_code::kSha1;
  if (drop_certificate) r.certificate.reset();
  return r;
}

inline std::vector<uint8_t> BuildRecord(const RecordSpec& r) {
  namespace t = trust::record_tag;
  std::vector<uint8_t> body;
  if (r.dns_name) PutTlv(body, t::kDnsName, Str(*r.dns_name));
  if (r.subject) PutTlv(body, t::kSubjectName, Str(*r.subject));
  if (r.function) PutTlv(body, t::kFunction, U16(*r.function));
  if (r.issuer) PutTlv(body, t::kIssuerName, Str(*r.issuer));
  if (r.serial) PutTlv(body, t::kSerialNumber, *r.serial);
  if (r.public_key) PutTlv(body, t::kPublicKey, *r.public_key);
  if (r.signature) PutTlv(body, t::kSignature, *r.signature);
  if (r.certificate) PutTlv(body, t::kCertificate, *r.certificate);
  if (r.ip_address) PutTlv(body, t::kIpAddress, *r.ip_address);
  if (r.certificate_hash) PutTlv(body, t::kCertificateHash, *r.certificate_hash);
  if (r.hash_algorithm) PutTlv(body, t::kHashAlgorithm, {*r.hash_algorithm});
  for (const auto& [tag, value] : r.extra) PutTlv(body, tag, value);
  // §3: RECORDLENGTH is the whole record, its own 5 bytes included.
  const size_t total = 5 + body.size();
  if (total > 0xffff) Die("a record over 65535 bytes");
  std::vector<uint8_t> out;
  PutTlv(out, t::kRecordLength, U16(static_cast<uint16_t>(total)));
  out.insert(out.end(), body.begin(), body.end());
  return out;
}

// The header's fields (§2). Written in CUCM's order 1, 2, [28], 3{4,5,6}, 7{8, 9{10,11}}, 12, 14,
// 15, `extra`, padding.
struct HeaderSpec {
  uint8_t version_major = 1;
  uint8_t version_minor = 2;
  std::optional<std::array<uint8_t, 2>> signer_version;  // tag 28, as certutils writes it
  std::optional<std::string> signer_name;
  std::optional<std::vector<uint8_t>> signer_serial;
  std::optional<std::string> ca_name;
  std::optional<uint8_t> digest_code = trust::digest_code::kSha1;
  std::optional<uint8_t> signature_algorithm = 0;  // RSA
  bool write_modulus = true;
  std::optional<uint8_t> modulus_code;  // nullopt: the signing key's (§5)
  std::string file_name = "CTLFile.tlv";
  std::optional<uint32_t> timestamp = 1314811683;  // Wed Aug 31 17:28:03 UTC 2011 (seed 004)
  ExtraTlvs extra;                                 // unknown header tags, after TIMESTAMP
  bool pad_to_4 = true;                            // tag-13 bytes to a multiple of 4
};

// A header naming `signer` as CUCM does: its subject, serial and issuer (self-signed: subject).
inline HeaderSpec HeaderFor(const Identity& signer, const std::string& file_name = "CTLFile.tlv") {
  HeaderSpec h;
  h.signer_name = signer.subject;
  h.signer_serial = signer.serial;
  h.ca_name = signer.subject;
  h.file_name = file_name;
  return h;
}

struct BuiltFile {
  std::vector<uint8_t> bytes;
  size_t signature_offset = 0;  // of the tag-12 byte
  size_t header_length = 0;
  std::vector<size_t> record_offsets;
};

inline const EVP_MD* MdForCode(uint8_t code) {
  switch (code) {
    case trust::digest_code::kSha1: return EVP_sha1();
    case trust::digest_code::kSha512: return EVP_sha512();
    default: return EVP_sha256();  // code 2, and unknown codes (such a file must be refused)
  }
}

// (Re)signs `file` in place per §6: RSASSA-PKCS1-v1_5 over file[0:off] || file[off+3+N:], where
// off is the tag-12 byte at `signature_offset` and N its length, which must be the key's size.
inline void Sign(std::vector<uint8_t>& file, size_t signature_offset, EVP_PKEY* key,
                 uint8_t digest_code) {
  const size_t n =
      static_cast<size_t>(file[signature_offset + 1]) << 8 | file[signature_offset + 2];
  const size_t rest = signature_offset + 3 + n;
  if (rest > file.size()) Die("Sign: signature past the end");
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), &EVP_MD_CTX_free);
  EVP_PKEY_CTX* pctx = nullptr;
  if (!ctx || EVP_DigestSignInit(ctx.get(), &pctx, MdForCode(digest_code), nullptr, key) != 1 ||
      EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PADDING) <= 0 ||
      EVP_DigestSignUpdate(ctx.get(), file.data(), signature_offset) != 1 ||
      EVP_DigestSignUpdate(ctx.get(), file.data() + rest, file.size() - rest) != 1) {
    Die("EVP_DigestSign setup");
  }
  size_t len = 0;
  if (EVP_DigestSignFinal(ctx.get(), nullptr, &len) != 1) Die("EVP_DigestSignFinal (size)");
  std::vector<uint8_t> sig(len);
  if (EVP_DigestSignFinal(ctx.get(), sig.data(), &len) != 1) Die("EVP_DigestSignFinal");
  if (len != n) Die("Sign: the signature does not fill tag 12");
  std::copy(sig.begin(), sig.begin() + static_cast<std::ptrdiff_t>(len),
            file.begin() + static_cast<std::ptrdiff_t>(signature_offset + 3));
}

// The whole file: header with the final HEADERLENGTH and padding, records, then the signature by
// `key` filled into tag 12 (sized to the key).
inline BuiltFile Build(const HeaderSpec& h, const std::vector<RecordSpec>& records, EVP_PKEY* key) {
  namespace t = trust::header_tag;
  const int key_bytes = EVP_PKEY_get_size(key);
  if (key_bytes <= 0) Die("EVP_PKEY_get_size");
  BuiltFile b;
  std::vector<uint8_t>& out = b.bytes;
  PutTlv(out, t::kVersion, {h.version_major, h.version_minor});
  PutTlv(out, t::kHeaderLength, {0, 0});  // filled in once the header is complete
  if (h.signer_version) {
    PutTlv(out, t::kSignerVersion, {(*h.signer_version)[0], (*h.signer_version)[1]});
  }
  std::vector<uint8_t> id;
  if (h.signer_name) PutTlv(id, t::kSignerName, Str(*h.signer_name));
  if (h.signer_serial) PutTlv(id, t::kSerialNumber, *h.signer_serial);
  if (h.ca_name) PutTlv(id, t::kCaName, Str(*h.ca_name));
  PutTlv(out, t::kSignerId, id);
  std::vector<uint8_t> algo;
  if (h.signature_algorithm) PutTlv(algo, t::kSignatureAlgorithm, {*h.signature_algorithm});
  if (h.write_modulus) {
    // §5: 0/1/2/3 = 512/1024/2048/4096 bits.
    uint8_t code = 0xff;
    for (uint8_t c = 0; c <= 3; ++c) {
      if (key_bytes == (64 << c)) code = c;
    }
    PutTlv(algo, t::kSignatureModulus, {h.modulus_code.value_or(code)});
  }
  std::vector<uint8_t> info;
  if (h.digest_code) PutTlv(info, t::kDigestAlgorithm, {*h.digest_code});
  PutTlv(info, t::kSignatureAlgoInfo, algo);
  PutTlv(out, t::kSignatureInfo, info);
  b.signature_offset = out.size();
  PutTlv(out, t::kSignature, std::vector<uint8_t>(static_cast<size_t>(key_bytes), 0));
  PutTlv(out, t::kFileName, Str(h.file_name));
  if (h.timestamp) PutTlv(out, t::kTimestamp, U32(*h.timestamp));
  for (const auto& [tag, value] : h.extra) PutTlv(out, tag, value);
  while (h.pad_to_4 && out.size() % 4 != 0) out.push_back(t::kPadding);
  if (out.size() > 0xffff) Die("a header over 65535 bytes");
  b.header_length = out.size();
  out[8] = static_cast<uint8_t>(b.header_length >> 8);
  out[9] = static_cast<uint8_t>(b.header_length);
  for (const RecordSpec& r : records) {
    b.record_offsets.push_back(out.size());
    const std::vector<uint8_t> rec = BuildRecord(r);
    out.insert(out.end(), rec.begin(), rec.end());
  }
  Sign(out, b.signature_offset, key, h.digest_code.value_or(trust::digest_code::kSha1));
  return b;
}

// A cluster's certificates, made once per process (RSA-2048 key generation is the slow part).
struct Cluster {
  Identity sast1;         // the token that signs the CTL; serial with its top bit set (seed 004)
  Identity sast2;         // the backup token
  Identity callmanager;   // CCM+TFTP; the ITL's SAST before CUCM 12.0
  Identity capf;
  Identity tvs;
  Identity itl_recovery;  // the ITL's SAST from 12.0, a SAST by role (§4)
};

inline Cluster MakeCluster() {
  Cluster c;
  c.sast1 = MakeIdentity("SAST-ADN4e31f914",
                         {0xBD, 0xA3, 0x02, 0x00, 0x00, 0x00, 0xD8, 0x88, 0x64, 0x1F});
  c.sast2 = MakeIdentity("SAST-ADN5bbd7b14",
                         {0xAA, 0xC9, 0x20, 0x00, 0x00, 0x00, 0x78, 0xC4, 0x2E, 0x22});
  c.callmanager = MakeIdentity("cucm-pub", {0x70, 0xCA, 0xF6, 0x4E, 0x09, 0x07, 0x51, 0xB9, 0xDF,
                                            0x22, 0xF4, 0x9F, 0x75, 0x4F, 0xC5, 0xBB});
  c.capf = MakeIdentity("CAPF-9c4cba7d", {0x0A, 0xDC, 0x6E, 0x77, 0x42, 0x91, 0x4A, 0x53});
  c.tvs = MakeIdentity("cucm-pub-tvs", {0x24, 0xBA, 0x66, 0x17, 0xF3, 0x91, 0x07, 0x6B});
  c.itl_recovery = MakeIdentity("ITLRECOVERY_cucm-pub", {0x6B, 0xEB, 0xFD, 0xCD, 0xCD, 0x8C, 0xA2,
                                                        0x77, 0xCB, 0x2F, 0xD1, 0xD1, 0x83, 0xA6,
                                                        0x0E, 0x72});
  return c;
}

// A CTL as a mixed-mode cluster has it (§7): two SASTs, CCM+TFTP, CAPF; no TVS.
inline std::vector<RecordSpec> CtlRecords(const Cluster& c) {
  return {RecordFor(c.sast1, trust::role::kSast), RecordFor(c.sast2, trust::role::kSast),
          RecordFor(c.callmanager, trust::role::kCcmTftp, "cucm-pub",
                    std::array<uint8_t, 4>{10, 48, 47, 153}),
          RecordFor(c.capf, trust::role::kCapf, "cucm-pub")};
}

// An ITL (§7): ITLRecovery and the CallManager certificate both as SAST, CallManager again as
// CCM+TFTP, TVS, and CAPF with its SHA-1 in tags 11/12 next to the certificate.
inline std::vector<RecordSpec> ItlRecords(const Cluster& c) {
  return {RecordFor(c.itl_recovery, trust::role::kSast),
          RecordFor(c.callmanager, trust::role::kSast, "cucm-pub"),
          RecordFor(c.callmanager, trust::role::kCcmTftp, "cucm-pub",
                    std::array<uint8_t, 4>{10, 48, 47, 153}),
          RecordFor(c.tvs, trust::role::kTvs, "cucm-pub"),
          WithHash(RecordFor(c.capf, trust::role::kCapf, "cucm-pub"), false)};
}

inline BuiltFile BuildCtl(const Cluster& c, const Identity& signer,
                          uint8_t digest = trust::digest_code::kSha1) {
  HeaderSpec h = HeaderFor(signer, "CTLFile.tlv");
  h.digest_code = digest;
  return Build(h, CtlRecords(c), signer.key.get());
}

inline BuiltFile BuildItl(const Cluster& c, const Identity& signer) {
  return Build(HeaderFor(signer, "ITLFile.tlv"), ItlRecords(c), signer.key.get());
}

}  // namespace mpswitch::testing::ctl
