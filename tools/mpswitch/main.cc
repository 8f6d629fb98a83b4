// mpswitch: the switch's operator commands. Today the configuration check and the trust
// commands (development PKI, LSC, trust units, CTL/ITL trust lists) over the libraries in
// control/; running the switch itself comes with the switch node (see README.md, "What works").
//
// Exit status: 0 done, 1 the command failed (one line on stderr says why), 2 usage.
#include <openssl/x509.h>

#include <cstdio>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_format.h"
#include "mpswitch/control/config.h"
#include "mpswitch/control/trust/ctl.h"
#include "mpswitch/control/trust/dev_pki.h"
#include "mpswitch/control/trust/lsc.h"
#include "mpswitch/control/trust/trust_store.h"

namespace {

using namespace mpswitch::control;
using namespace mpswitch::control::trust;

constexpr const char* kUsage = R"(usage: mpswitch COMMAND ...

  check-config FILE                       report every problem of a configuration file
  pki init DIR [--force]                  make a development PKI and a ready DIR/mpswitch.toml
  lsc request --subject 'CN=..,O=..' [--rsa] [--replace]
                                          make the LSC's key and a CSR for the CAPF to sign
  lsc install CERT [CHAIN]                install the certificate the CAPF issued
  lsc show                                the X.509 subject to enter in call control, expiry
  cert upload --unit CAPF-trust|CTM-trust FILE
  cert list                               the trust units' certificates
  cert show UNIT NAME
  cert delete UNIT NAME
  ctl show FILE [--signer PEM]            print a CTL/ITL file; exit 0 only if it verifies
  ctl import FILE [--signer PEM]          a verified file's CallManager and CAPF certificates
                                          into CTM-trust and CAPF-trust

Options for every command but check-config and pki init:
  --config FILE   take the state directory ([state] dir) and trust directory ([tls] trust_dir)
                  from FILE; without it: ./mpswitch-state and ./mpswitch-state/trust
  --state DIR     the state directory (the LSC lives here)
  --trust DIR     the trust directory (holds CAPF-trust/ and CTM-trust/)
)";

int Usage(const std::string& why = "") {
  if (!why.empty()) std::fprintf(stderr, "mpswitch: %s\n", why.c_str());
  std::fputs(kUsage, stderr);
  return 2;
}

int Fail(const absl::Status& s) {
  std::fprintf(stderr, "mpswitch: %s\n", std::string(s.message()).c_str());
  return 1;
}

// The command line after the command words: positional arguments and --name [value] options.
struct Args {
  std::vector<std::string> positional;
  std::vector<std::pair<std::string, std::string>> options;
  bool Flag(std::string_view name) const {
    for (const auto& [k, v] : options) {
      if (k == name) return true;
    }
    return false;
  }
  std::optional<std::string> Value(std::string_view name) const {
    for (const auto& [k, v] : options) {
      if (k == name) return v;
    }
    return std::nullopt;
  }
};

// Options that take a value; the others are flags.
bool TakesValue(std::string_view name) {
  return name == "--config" || name == "--state" || name == "--trust" || name == "--subject" ||
         name == "--unit" || name == "--signer";
}

std::optional<Args> Parse(int argc, char** argv, int first, std::string* error) {
  Args a;
  for (int i = first; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg.rfind("--", 0) == 0) {
      std::string name = arg, value;
      if (const size_t eq = arg.find('='); eq != std::string::npos) {
        name = arg.substr(0, eq);
        value = arg.substr(eq + 1);
      } else if (TakesValue(name)) {
        if (i + 1 >= argc) {
          *error = name + " needs a value";
          return std::nullopt;
        }
        value = argv[++i];
      }
      a.options.emplace_back(name, value);
    } else {
      a.positional.push_back(arg);
    }
  }
  return a;
}

absl::StatusOr<std::string> ReadFile(const std::string& path) {
  return ReadFileBounded(path, kMaxConfigFileBytes * 4);
}

// Where the state and the trust units are: options, then the configuration, then the defaults.
struct Places {
  std::string state;
  std::string trust;
};

absl::StatusOr<Places> PlacesFor(const Args& a) {
  Places p;
  if (const auto c = a.Value("--config")) {
    absl::StatusOr<Config> cfg = LoadConfig(*c);
    if (!cfg.ok()) return cfg.status();
    p.state = cfg->state.dir;
    p.trust = cfg->tls.trust_dir;
  }
  if (const auto s = a.Value("--state")) p.state = *s;
  if (const auto t = a.Value("--trust")) p.trust = *t;
  if (p.state.empty()) p.state = "./mpswitch-state";
  if (p.trust.empty()) p.trust = p.state + "/trust";
  return p;
}

int CheckConfigCommand(const Args& a) {
  if (a.positional.size() != 1) return Usage("check-config takes one FILE");
  const std::string& path = a.positional[0];
  absl::StatusOr<std::string> text = ReadFile(path);
  if (!text.ok()) return Fail(text.status());
  const std::vector<ConfigProblem> problems = CheckConfig(*text, path);
  for (const ConfigProblem& p : problems) std::printf("%s\n", p.ToString().c_str());
  if (!problems.empty()) return 1;
  std::printf("%s: no problems\n", path.c_str());
  return 0;
}

int PkiCommand(const std::string& verb, const Args& a) {
  if (verb != "init" || a.positional.size() != 1) return Usage("pki init DIR [--force]");
  DevPkiOptions o;
  o.force = a.Flag("--force");
  if (absl::Status s = InitDevelopmentPki(a.positional[0], o); !s.ok()) return Fail(s);
  std::printf("development PKI in %s; run the switch with --config %s/mpswitch.toml\n",
              a.positional[0].c_str(), a.positional[0].c_str());
  return 0;
}

void PrintLsc(const LscInfo& i) {
  std::printf("X.509 Subject Name (enter it in call control's SIP trunk security profile): %s\n",
              i.x509_subject_name.c_str());
  std::printf("subject: %s\nissuer: %s\nserial: %s\nvalid until: %s (%lld days)\n",
              i.subject.c_str(), i.issuer.c_str(), i.serial_hex.c_str(), i.not_after_text.c_str(),
              static_cast<long long>(i.days_until_expiry));
  if (i.expired) {
    std::printf("WARNING: the LSC has expired: call control will refuse the trunk\n");
  } else if (i.expires_soon) {
    std::printf("WARNING: the LSC expires within 30 days: request and install a new one\n");
  }
}

int LscCommand(const std::string& verb, const Args& a) {
  absl::StatusOr<Places> places = PlacesFor(a);
  if (!places.ok()) return Fail(places.status());
  Lsc lsc(places->state);
  if (verb == "request") {
    const auto subject = a.Value("--subject");
    if (!subject || !a.positional.empty()) return Usage("lsc request --subject 'CN=...,O=...'");
    if (absl::Status s = MakeDirectories(places->state, 0700); !s.ok()) return Fail(s);
    absl::StatusOr<LscRequest> r = lsc.Request(
        *subject, a.Flag("--rsa") ? KeyType::kRsa2048 : KeyType::kEcdsaP256, a.Flag("--replace"));
    if (!r.ok()) return Fail(r.status());
    std::printf("key: %s (kept here; never leaves this machine)\nCSR for the CAPF: %s\n%s",
                r->key_path.c_str(), r->csr_path.c_str(), r->csr_pem.c_str());
    return 0;
  }
  if (verb == "install") {
    if (a.positional.empty() || a.positional.size() > 2) return Usage("lsc install CERT [CHAIN]");
    absl::StatusOr<std::string> cert = ReadFile(a.positional[0]);
    if (!cert.ok()) return Fail(cert.status());
    std::string chain;
    if (a.positional.size() == 2) {
      absl::StatusOr<std::string> c = ReadFile(a.positional[1]);
      if (!c.ok()) return Fail(c.status());
      chain = std::move(*c);
    }
    absl::StatusOr<TrustStore> trust = TrustStore::Open(places->trust);
    if (!trust.ok()) return Fail(trust.status());
    absl::StatusOr<LscInfo> info = lsc.Install(*cert, chain, *trust);
    if (!info.ok()) return Fail(info.status());
    PrintLsc(*info);
    return 0;
  }
  if (verb == "show") {
    absl::StatusOr<LscInfo> info = lsc.Show();
    if (!info.ok()) return Fail(info.status());
    PrintLsc(*info);
    return 0;
  }
  return Usage("lsc request|install|show");
}

int CertCommand(const std::string& verb, const Args& a) {
  absl::StatusOr<Places> places = PlacesFor(a);
  if (!places.ok()) return Fail(places.status());
  if (verb == "upload") {
    const auto unit_text = a.Value("--unit");
    if (!unit_text || a.positional.size() != 1) return Usage("cert upload --unit UNIT FILE");
    absl::StatusOr<TrustUnit> unit = ParseTrustUnit(*unit_text);
    if (!unit.ok()) return Fail(unit.status());
    absl::StatusOr<std::string> bytes = ReadFile(a.positional[0]);
    if (!bytes.ok()) return Fail(bytes.status());
    absl::StatusOr<TrustStore> store = TrustStore::Open(places->trust, /*create=*/true);
    if (!store.ok()) return Fail(store.status());
    absl::StatusOr<CertificateRow> row = store->Upload(*unit, *bytes, a.positional[0]);
    if (!row.ok()) return Fail(row.status());
    std::printf("%s: %s (%s)\n", std::string(TrustUnitName(row->unit)).c_str(), row->name.c_str(),
                row->subject.c_str());
    return 0;
  }
  absl::StatusOr<TrustStore> store = TrustStore::Open(places->trust);
  if (!store.ok()) return Fail(store.status());
  if (verb == "list") {
    absl::StatusOr<std::vector<CertificateRow>> rows = store->List();
    if (!rows.ok()) return Fail(rows.status());
    std::fputs(FormatCertificateTable(*rows).c_str(), stdout);
    return 0;
  }
  if ((verb == "show" || verb == "delete") && a.positional.size() == 2) {
    absl::StatusOr<TrustUnit> unit = ParseTrustUnit(a.positional[0]);
    if (!unit.ok()) return Fail(unit.status());
    if (verb == "show") {
      absl::StatusOr<std::string> text = store->Show(*unit, a.positional[1]);
      if (!text.ok()) return Fail(text.status());
      std::fputs(text->c_str(), stdout);
      return 0;
    }
    if (absl::Status s = store->Delete(*unit, a.positional[1]); !s.ok()) return Fail(s);
    std::printf("deleted %s from %s\n", a.positional[1].c_str(), a.positional[0].c_str());
    return 0;
  }
  return Usage("cert upload|list|show|delete");
}

// The DER bytes of every certificate the trust units hold: a CTL's signer is trusted when its
// certificate is one of them.
absl::StatusOr<std::vector<std::vector<uint8_t>>> TrustedDer(const TrustStore& store) {
  std::vector<std::vector<uint8_t>> out;
  for (TrustUnit u : kAllTrustUnits) {
    absl::StatusOr<std::vector<X509Ptr>> certs = store.Certificates(u);
    if (!certs.ok()) return certs.status();
    for (const X509Ptr& c : *certs) {
      const int n = i2d_X509(c.get(), nullptr);
      if (n <= 0) continue;
      std::vector<uint8_t> der(static_cast<size_t>(n));
      uint8_t* p = der.data();
      i2d_X509(c.get(), &p);
      out.push_back(std::move(der));
    }
  }
  return out;
}

int CtlCommand(const std::string& verb, const Args& a) {
  if ((verb != "show" && verb != "import") || a.positional.size() != 1) {
    return Usage("ctl show|import FILE [--signer PEM]");
  }
  absl::StatusOr<Places> places = PlacesFor(a);
  if (!places.ok()) return Fail(places.status());
  const std::string& path = a.positional[0];
  absl::StatusOr<std::string> bytes = ReadFile(path);
  if (!bytes.ok()) return Fail(bytes.status());
  const std::span<const uint8_t> file(reinterpret_cast<const uint8_t*>(bytes->data()),
                                      bytes->size());
  absl::StatusOr<CtlFile> ctl = ParseCtl(file, path);
  if (!ctl.ok()) return Fail(ctl.status());

  // The signer: given explicitly, or one of the file's own SAST records already trusted here.
  absl::StatusOr<UniqueX509> signer = absl::NotFoundError("no signer");
  if (const auto pem_path = a.Value("--signer")) {
    absl::StatusOr<std::string> pem = ReadFile(*pem_path);
    if (!pem.ok()) return Fail(pem.status());
    signer = SignerFromPem(*pem);
  } else {
    absl::StatusOr<TrustStore> store = TrustStore::Open(places->trust);
    absl::StatusOr<std::vector<std::vector<uint8_t>>> trusted =
        store.ok() ? TrustedDer(*store) : absl::StatusOr<std::vector<std::vector<uint8_t>>>(
                                              std::vector<std::vector<uint8_t>>{});
    if (!trusted.ok()) return Fail(trusted.status());
    signer = FindTrustedSigner(*ctl, [&](const CtlRecord& r) {
      for (const auto& der : *trusted) {
        if (r.certificate && *r.certificate == der) return true;
      }
      return false;
    });
  }
  const absl::Status verified = signer.ok() ? Verify(*ctl, file, signer->get()) : signer.status();
  if (verb == "show") {
    std::fputs(FormatCtl(*ctl, verified).c_str(), stdout);
    if (!verified.ok()) return Fail(verified);
    return 0;
  }
  if (!verified.ok()) return Fail(verified);
  const ImportSet set = CertificatesForImport(*ctl);
  absl::StatusOr<TrustStore> store = TrustStore::Open(places->trust, /*create=*/true);
  if (!store.ok()) return Fail(store.status());
  int imported = 0;
  auto import = [&](TrustUnit unit, const std::vector<ImportCertificate>& certs) -> absl::Status {
    for (const ImportCertificate& c : certs) {
      const std::string_view der(reinterpret_cast<const char*>(c.der.data()), c.der.size());
      absl::StatusOr<CertificateRow> row =
          store->Upload(unit, der, absl::StrFormat("%s record %d", path, c.record_index));
      if (row.ok()) {
        ++imported;
        std::printf("%s: %s (%s)\n", std::string(TrustUnitName(unit)).c_str(), row->name.c_str(),
                    RoleName(c.function).c_str());
      } else if (row.status().code() == absl::StatusCode::kAlreadyExists) {
        std::printf("%s: already held (record %zu)\n", std::string(TrustUnitName(unit)).c_str(),
                    c.record_index);
      } else {
        return row.status();
      }
    }
    return absl::OkStatus();
  };
  if (absl::Status s = import(TrustUnit::kCtmTrust, set.ctm_trust); !s.ok()) return Fail(s);
  if (absl::Status s = import(TrustUnit::kCapfTrust, set.capf_trust); !s.ok()) return Fail(s);
  std::printf("imported %d certificates from %s\n", imported, path.c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) return Usage();
  const std::string cmd = argv[1];
  if (cmd == "--help" || cmd == "-h" || cmd == "help") {
    std::fputs(kUsage, stdout);
    return 0;
  }
  const bool has_verb = cmd == "pki" || cmd == "lsc" || cmd == "cert" || cmd == "ctl";
  if (has_verb && argc < 3) return Usage(cmd + " needs a verb");
  std::string error;
  const std::optional<Args> a = Parse(argc, argv, has_verb ? 3 : 2, &error);
  if (!a) return Usage(error);
  const std::string verb = has_verb ? argv[2] : "";
  if (cmd == "check-config") return CheckConfigCommand(*a);
  if (cmd == "pki") return PkiCommand(verb, *a);
  if (cmd == "lsc") return LscCommand(verb, *a);
  if (cmd == "cert") return CertCommand(verb, *a);
  if (cmd == "ctl") return CtlCommand(verb, *a);
  return Usage("unknown command " + cmd);
}
