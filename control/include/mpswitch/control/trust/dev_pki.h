// A development PKI (`mpswitch pki init DIR`): everything the switch needs to run SIP-TLS on
// 127.0.0.1 with no operator setup, standing in for the call-control cluster's CAPF.
//
//   DIR/capf-ca.pem, capf-ca.key   a CAPF-like CA: self-signed, CA:TRUE, keyCertSign, 10 years,
//                                  ECDSA P-256 (its key is kept to issue more development certs)
//   DIR/lsc.key, lsc.pem           the switch's LSC: CN=mpswitch, SAN DNS:mpswitch,
//   DIR/lsc-chain.pem              DNS:localhost, IP:127.0.0.1, IP:::1, serverAuth+clientAuth;
//                                  the chain is the CA certificate
//   DIR/cucmN.key, cucmN.pem       N = 0..4: five call-control nodes, CN=cucmN, SAN DNS:cucmN,
//                                  IP:127.0.0.1, serverAuth+clientAuth
//   DIR/trust/CAPF-trust           the CA certificate
//   DIR/trust/CTM-trust            the five cucm certificates
//   DIR/mpswitch.toml              a configuration naming all of the above (absolute paths)
//   DIR/dev-pki.complete           written last: the PKI is complete
// Keys are mode 0600, everything else 0644; DIR is created 0700 if missing.
//
// A failed or interrupted run never leaves something a later run (or the daemon) would take for
// a complete PKI: everything is made in DIR/.dev-pki-new.XXXXXX first; only then is
// DIR/dev-pki.partial written, the files renamed into DIR one by one, dev-pki.complete written
// and dev-pki.partial removed. A run that finds dev-pki.partial replaces those leftovers without
// asking; one that finds a complete PKI, or any of these names not made by this code, refuses
// unless `force`.
#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "mpswitch/control/trust/lsc.h"
#include "mpswitch/control/trust/trust_store.h"

namespace mpswitch::control::trust {

inline constexpr int kDevPkiCucmNodes = 5;
inline constexpr int kDevPkiSwitchSipTlsPort = 5061;
// cucmN listens on kDevPkiFirstServerPort + N: five local peers and the switch on one host.
inline constexpr int kDevPkiFirstServerPort = 5080;
inline constexpr std::string_view kDevPkiCompleteMarker = "dev-pki.complete";
inline constexpr std::string_view kDevPkiPartialMarker = "dev-pki.partial";

struct DevPkiOptions {
  // Replace a development PKI (or files of the same names) already in DIR.
  bool force = false;
  absl::Duration ca_valid_for = absl::Hours(24 * 3650);
  absl::Duration leaf_valid_for = absl::Hours(24 * 825);
  // Tests only: called at each step ("generated" once everything is in the temporary
  // directory, "moved:<name>" after each entry is renamed into DIR); a non-OK status stops the
  // run there, as a crash or a full disk would.
  std::function<absl::Status(std::string_view step)> fault_for_test;
};

// Creates the development PKI in `dir` (made if missing). Errors: AlreadyExists (a PKI or one of
// its file names is already there and not `force`: what to pass), InvalidArgument (empty dir),
// the file errors of WriteFileAtomic (naming the file), Internal (OpenSSL). On an error before
// the renames start DIR is unchanged; after, DIR holds dev-pki.partial and no dev-pki.complete,
// and the message says to run the command again.
absl::Status InitDevelopmentPki(const std::string& dir, const DevPkiOptions& options = {});

// Whether `dir` holds a complete development PKI (dev-pki.complete, no dev-pki.partial).
bool DevelopmentPkiComplete(const std::string& dir);

// What a certificate IssueCertificate makes says about its subject.
struct CertificateSpec {
  std::string subject;  // as ParseSubject takes it: "CN=cucm0,O=Example"
  // CA:TRUE (critical) with keyCertSign, cRLSign; otherwise CA:FALSE with digitalSignature
  // (plus keyEncipherment for an RSA key).
  bool ca = false;
  std::vector<std::string> dns_names;        // SAN DNS entries: letters, digits, '-', '.', '*'
  std::vector<std::string> ip_addresses;     // SAN IP entries: IPv4 or IPv6 text
  bool server_auth = false;                  // extendedKeyUsage serverAuth
  bool client_auth = false;                  // extendedKeyUsage clientAuth
  absl::Duration backdate = absl::Hours(1);  // notBefore = now - backdate
  absl::Duration valid_for = absl::Hours(24 * 825);  // notAfter = now + valid_for
};

// An X.509 v3 certificate for `subject_key` (public part), signed with SHA-256 by `issuer_key`
// as `issuer`; `issuer` null makes it self-signed with `subject_key`. A random positive 127-bit
// serial, subjectKeyIdentifier, and authorityKeyIdentifier when issued by another certificate.
// The keys and issuer are borrowed. Errors: InvalidArgument (subject, names, a null key),
// Internal (OpenSSL).
absl::StatusOr<X509Ptr> IssueCertificate(const CertificateSpec& spec, EVP_PKEY* subject_key,
                                         X509* issuer, EVP_PKEY* issuer_key);

}  // namespace mpswitch::control::trust
