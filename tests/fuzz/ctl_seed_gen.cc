// Writes the seed corpus of ctl_fuzz: signed CTL and ITL files built from scratch by
// tests/control/trust/ctl_builder.h (keys and certificates made here, so every run writes new
// bytes of the same shapes). Most are kept under the 4096 bytes scripts/test.sh gives libFuzzer
// (-max_len); the full CTL and ITL are bigger and run whole in the corpus replay.
// Usage: ctl_seed_gen CORPUS_DIR (writes CORPUS_DIR/ctl_fuzz/*).
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "ctl_builder.h"

namespace fs = std::filesystem;
namespace b = mpswitch::testing::ctl;
namespace trust = mpswitch::control::trust;

namespace {

void Write(const fs::path& dir, const std::string& name, const std::vector<uint8_t>& bytes) {
  fs::create_directories(dir);
  std::ofstream(dir / name, std::ios::binary)
      .write(reinterpret_cast<const char*>(bytes.data()),
             static_cast<std::streamsize>(bytes.size()));
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s CORPUS_DIR\n", argv[0]);
    return 2;
  }
  const fs::path dir = fs::path(argv[1]) / "ctl_fuzz";
  const b::Cluster c = b::MakeCluster();

  // Whole files as a cluster has them.
  Write(dir, "gen_ctl_full", b::BuildCtl(c, c.sast1).bytes);
  Write(dir, "gen_itl_full", b::BuildItl(c, c.callmanager).bytes);

  // Small signed files: a header alone, and a header with its SAST plus one more record.
  Write(dir, "gen_header_only", b::Build(b::HeaderFor(c.sast1), {}, c.sast1.key.get()).bytes);
  Write(dir, "gen_ctl_sast_ccm",
        b::Build(b::HeaderFor(c.sast1),
                 {b::RecordFor(c.sast1, trust::role::kSast),
                  b::RecordFor(c.callmanager, trust::role::kCcmTftp, "cucm-pub",
                               std::array<uint8_t, 4>{10, 48, 47, 153})},
                 c.sast1.key.get())
            .bytes);
  Write(dir, "gen_ctl_sha512",
        [&] {
          b::HeaderSpec h = b::HeaderFor(c.sast2);
          h.digest_code = trust::digest_code::kSha512;
          return b::Build(h, {b::RecordFor(c.sast2, trust::role::kSast)}, c.sast2.key.get()).bytes;
        }());
  // ITL shape: ITLRecovery signs; CAPF carries its SHA-1 (tags 11/12), once with and once
  // without the certificate.
  Write(dir, "gen_itl_capf_hash",
        b::Build(b::HeaderFor(c.itl_recovery, "ITLFile.tlv"),
                 {b::RecordFor(c.itl_recovery, trust::role::kSast),
                  b::WithHash(b::RecordFor(c.capf, trust::role::kCapf), false)},
                 c.itl_recovery.key.get())
            .bytes);
  Write(dir, "gen_itl_hash_only",
        b::Build(b::HeaderFor(c.itl_recovery, "ITLFile.tlv"),
                 {b::RecordFor(c.itl_recovery, trust::role::kSast),
                  b::WithHash(b::RecordFor(c.tvs, trust::role::kTvs), true)},
                 c.itl_recovery.key.get())
            .bytes);
  // certutils' shape: signer version (tag 28), an unknown header tag and an unknown record tag,
  // no DNSNAME, no padding.
  Write(dir, "gen_certutils_unknown_tags", [&] {
    b::HeaderSpec h = b::HeaderFor(c.sast1);
    h.signer_version = std::array<uint8_t, 2>{1, 1};
    h.extra = {{99, {1, 2, 3}}};
    h.pad_to_4 = false;
    b::RecordSpec r = b::RecordFor(c.sast1, trust::role::kSast);
    r.dns_name.reset();
    r.extra = {{77, {0xde, 0xad}}};
    return b::Build(h, {r}, c.sast1.key.get()).bytes;
  }());
  // A non-secure-mode stub (tags 1, 2, 4, 10: 33 bytes, TAC 118892).
  Write(dir, "gen_ctl_stub", [&] {
    b::RecordSpec stub;
    stub.dns_name = "10.48.47.153";
    stub.function = trust::role::kCcmTftp;
    stub.ip_address = std::vector<uint8_t>{10, 48, 47, 153};
    return b::Build(b::HeaderFor(c.sast1), {b::RecordFor(c.sast1, trust::role::kSast), stub},
                    c.sast1.key.get())
        .bytes;
  }());
  return 0;
}
