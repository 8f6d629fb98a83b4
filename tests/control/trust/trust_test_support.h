// What the trust tests share: credentials issued with the development PKI's own issuer, and
// looking at files and directories.
#pragma once

#include <dirent.h>
#include <gtest/gtest.h>

#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <utility>

#include "mpswitch/control/trust/dev_pki.h"
#include "mpswitch/control/trust/lsc.h"
#include "mpswitch/control/trust/trust_store.h"

namespace mpswitch::control::trust::support {

struct Credential {
  EvpPkeyPtr key;
  X509Ptr cert;
};

// A CA certificate valid for a year: self-signed, or issued by `issuer` (an intermediate).
inline Credential MakeCa(const std::string& subject, X509* issuer = nullptr,
                         EVP_PKEY* issuer_key = nullptr) {
  Credential c;
  auto key = GenerateKey(KeyType::kEcdsaP256);
  EXPECT_TRUE(key.ok()) << key.status();
  c.key = std::move(*key);
  CertificateSpec spec;
  spec.subject = subject;
  spec.ca = true;
  spec.valid_for = absl::Hours(24 * 365);
  auto cert = IssueCertificate(spec, c.key.get(), issuer, issuer_key);
  EXPECT_TRUE(cert.ok()) << cert.status();
  c.cert = std::move(*cert);
  return c;
}

// A TLS client and server certificate valid for 30 days, issued by `ca`.
inline Credential MakeLeaf(const std::string& subject, const Credential& ca) {
  Credential c;
  auto key = GenerateKey(KeyType::kEcdsaP256);
  EXPECT_TRUE(key.ok()) << key.status();
  c.key = std::move(*key);
  CertificateSpec spec;
  spec.subject = subject;
  spec.server_auth = spec.client_auth = true;
  spec.valid_for = absl::Hours(24 * 30);
  auto cert = IssueCertificate(spec, c.key.get(), ca.cert.get(), ca.key.get());
  EXPECT_TRUE(cert.ok()) << cert.status();
  c.cert = std::move(*cert);
  return c;
}

inline std::string Slurp(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

// Every entry of a directory, hidden ones (temp files) included.
inline std::set<std::string> Entries(const std::string& dir) {
  std::set<std::string> out;
  if (DIR* d = ::opendir(dir.c_str())) {
    while (const dirent* e = ::readdir(d)) {
      const std::string name = e->d_name;
      if (name != "." && name != "..") out.insert(name);
    }
    ::closedir(d);
  }
  return out;
}

}  // namespace mpswitch::control::trust::support
