// libFuzzer target for what an operator hands the trust commands: a certificate file (DER, PEM,
// or anything else: `mpswitch cert upload`, `lsc install`) and an X.509 subject text (`lsc
// request --subject`). Neither parser may crash, and a certificate accepted once must read back
// the same from its own PEM.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "mpswitch/control/trust/lsc.h"
#include "mpswitch/control/trust/trust_store.h"

using namespace mpswitch::control::trust;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  if (auto cert = ParseCertificate(bytes, "fuzz.der"); cert.ok()) {
    const std::string pem = CertificateToPem(cert->get());
    auto again = ParseCertificate(pem, "fuzz.pem");
    if (!again.ok()) __builtin_trap();
    if (CertificateFingerprint(cert->get(), EVP_sha256()) !=
        CertificateFingerprint(again->get(), EVP_sha256())) {
      __builtin_trap();
    }
    (void)NameToRfc2253(X509_get_subject_name(cert->get()));
  }
  (void)ParsePemCertificates(bytes, "fuzz.pem");
  (void)ParseSubject(bytes.substr(0, 512));
  return 0;
}
