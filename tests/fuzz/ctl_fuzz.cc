// libFuzzer target for the CTL/ITL trust-list code (control/trust/ctl.h): parse arbitrary bytes;
// on success check that everything returned lies inside the input, print it, verify it with a
// fixed certificate (the `--signer` path), pick the signer among its own SAST records trusting
// any (the `FindTrustedSigner` path) and verify with that, and select the certificates to import.
#include <cstddef>
#include <cstdint>
#include <span>

#include "ctl_builder.h"
#include "mpswitch/control/trust/ctl.h"

using namespace mpswitch::control::trust;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // Made once (RSA key generation is slow) and kept reachable, so the leak checker stays quiet.
  static const mpswitch::testing::ctl::Identity* const fixed = new mpswitch::testing::ctl::Identity(
      mpswitch::testing::ctl::MakeIdentity("ctl_fuzz signer", {0x01}));
  const std::span<const uint8_t> bytes(data, size);
  ParseLimits limits;
  limits.max_records = 64;  // keeps one input's work bounded; the limit itself is tested too
  auto ctl = ParseCtl(bytes, "fuzz.tlv", limits);
  if (!ctl.ok()) return 0;

  const CtlHeader& h = ctl->header;
  if (h.header_length > size || h.header_length < 10) __builtin_trap();
  if (h.signature.empty() || h.signature_offset + 3 + h.signature.size() > h.header_length) {
    __builtin_trap();
  }
  size_t expect = h.header_length;  // records tile the rest of the file exactly
  for (const CtlRecord& r : ctl->records) {
    if (r.offset != expect || r.length < 5 || r.length > size - r.offset) __builtin_trap();
    expect += r.length;
  }
  if (expect != size || ctl->records.size() > limits.max_records) __builtin_trap();

  (void)FormatCtl(*ctl);
  (void)FormatCtl(*ctl, Verify(*ctl, bytes, fixed->cert.get()));
  auto signer = FindTrustedSigner(*ctl, [](const CtlRecord&) { return true; });
  if (signer.ok()) {
    const absl::Status st = Verify(*ctl, bytes, signer->get());
    (void)FormatCtl(*ctl, st);
  } else {
    (void)FormatCtl(*ctl, signer.status());
  }
  (void)CertificatesForImport(*ctl);
  return 0;
}
