// Per output packet: the switch (verify once, strip, rewrite CSRC, re-tag per receiver) against
// conventional SFUs that decrypt and re-encrypt for every receiver. One binary, one run, so the
// ratios in bench/README.md compare numbers taken side by side on the same (noisy) machine.
//
//   (a) BM_SwitchScalar       the pipeline with the scalar OpenSSL HMAC kernel
//   (b) BM_SwitchMultiBuffer  the pipeline with the intel-ipsec-mb kernel
//   (c) BM_Libsrtp            libsrtp2 as packaged: unprotect once + N protects
//   (d) BM_ConventionalCm     OpenSSL AES-128-CM + HMAC-SHA1 decrypt, re-encrypt per receiver
//   (e) BM_ConventionalGcm    OpenSSL AEAD_AES_128_GCM decrypt, re-encrypt per receiver
//   (f) BM_HmacFloor          multi-buffer HMAC-SHA1 alone over the same output bytes
//
// Arguments: payload bytes, fan-out N. Bursts of 32 input packets; items = output packets.
#include <benchmark/benchmark.h>
#include <openssl/evp.h>

#include <cstring>
#include <memory>
#include <random>
#include <vector>

#include "mpswitch/dataplane/core/packet.h"
#include "mpswitch/dataplane/core/pipeline.h"
#include "mpswitch/dataplane/core/srtp_cipher.h"
#include "mpswitch/ekt/endpoint.h"
#include "mpswitch/oracle/libsrtp_oracle.h"

namespace {

using namespace mpswitch;
using namespace mpswitch::dataplane;

constexpr int kBurst = 32;
constexpr int kPool = 1024;  // distinct sequence numbers before the receive state is reset
constexpr uint32_t kSsrc = 0x51515151;
constexpr size_t kBufCap = 2048;
const IpAddr kLegAddr = IpAddr::FromV4(0x0a000005);  // where the benchmark leg sends from
constexpr uint16_t kLegPort = 30000;

// Pre-protected input packets, as endpoints send them (libsrtp2 protects, with the trailing byte).
struct Traffic {
  MasterKey sender_key;
  std::vector<std::vector<uint8_t>> plain;      // RTP before protection (no trailing byte)
  std::vector<std::vector<uint8_t>> protected_;  // SRTP with trailing byte, libsrtp2's tag
  std::vector<std::vector<uint8_t>> srtp_plain;  // SRTP without trailing byte (baselines c, d)
  std::vector<MasterKey> receiver_keys;

  Traffic(size_t payload, int fanout) {
    std::mt19937_64 rng(payload * 131 + fanout);
    sender_key = oracle::RandomMasterKey(rng);
    auto tx = oracle::LibsrtpSession::Sender(sender_key, SrtpProfile::kAesCm128HmacSha1_80, kSsrc, true);
    for (int i = 0; i < kPool; ++i) {
      oracle::RtpSpec r;
      r.ssrc = kSsrc;
      r.seq = static_cast<uint16_t>(i);
      r.timestamp = 3000 * i;
      r.csrcs = {(0x1234u << 12) | 0x11};  // MUX-CSRC: source center, sink center
      r.payload = oracle::RandomBytes(rng, payload);
      plain.push_back(oracle::BuildRtp(r));
      protected_.push_back(oracle::ProtectWithTrailingByte(*tx, plain.back(), i % kBurst == 0));
      std::vector<uint8_t> p = plain.back();
      tx->Protect(p);
      srtp_plain.push_back(p);
    }
    for (int i = 0; i < fanout; ++i) receiver_keys.push_back(oracle::RandomMasterKey(rng));
  }
};

struct OutBuffers {
  std::vector<uint8_t> store;
  std::vector<OutPacket> out;
  explicit OutBuffers(size_t n) : store(n * kBufCap), out(n) {
    for (size_t i = 0; i < n; ++i) out[i] = OutPacket{store.data() + i * kBufCap, kBufCap};
  }
};

void Report(benchmark::State& state, uint64_t outputs, uint64_t out_bytes) {
  state.SetItemsProcessed(static_cast<int64_t>(outputs));
  state.SetBytesProcessed(static_cast<int64_t>(out_bytes));
  state.counters["ns_per_output"] = benchmark::Counter(
      static_cast<double>(outputs) * 1e-9, benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
  state.counters["Gbps"] = benchmark::Counter(static_cast<double>(out_bytes) * 8 / 1e9,
                                              benchmark::Counter::kIsRate);
}

// (a), (b): the switch.
void RunSwitch(benchmark::State& state, std::unique_ptr<MacKernel> kernel) {
  if (!kernel) {
    state.SkipWithError("no multi-buffer kernel on this build/CPU");
    return;
  }
  const size_t payload = state.range(0);
  const int fanout = static_cast<int>(state.range(1));
  Traffic t(payload, fanout);
  StreamConfig c;
  c.local_port = 16384;
  c.ssrc = kSsrc;
  c.master = t.sender_key;
  c.trailing = TrailingByte::kAudioActivity;
  // As control configures every leg's stream: accepted from the leg's address only.
  c.source_policy = SourcePolicy::kSignalled;
  c.source = kLegAddr;
  c.source_port = kLegPort;
  for (int i = 0; i < fanout; ++i) {
    // Distinct sink/output per receiver, so every output needs its own tag (the worst case).
    c.routes.push_back({static_cast<uint32_t>(i), CsrcRewrite{static_cast<uint8_t>(1 + i % 3),
                                                              static_cast<uint8_t>(i / 3)}});
  }
  auto snap = Snapshot::Build({&c, 1});
  if (!snap.ok()) {
    state.SkipWithError(std::string(snap.status().message()).c_str());
    return;
  }
  WorkerState w(1, std::move(kernel));
  state.SetLabel(std::string(w.kernel().Name()));
  std::vector<std::vector<uint8_t>> in = t.protected_;  // mutable copies; the pipeline restores them
  OutBuffers ob(kBurst * fanout);
  std::vector<PacketRef> refs(kBurst);
  int at = 0;
  uint64_t outputs = 0, bytes = 0;
  for (auto _ : state) {
    if (at == kPool) {
      state.PauseTiming();
      w.stream(0).Install(snap->streams()[0], 0);
      at = 0;
      state.ResumeTiming();
    }
    for (int i = 0; i < kBurst; ++i, ++at) {
      refs[i] = PacketRef{in[at].data(), static_cast<uint16_t>(in[at].size()),
                          static_cast<uint16_t>(in[at].size()), 16384};
      refs[i].from = kLegAddr;
      refs[i].from_port = kLegPort;
    }
    const BurstResult r = ProcessBurst(*snap, w, refs, ob.out);
    outputs += r.outputs;
    for (uint16_t i = 0; i < r.outputs; ++i) bytes += ob.out[i].len;
    benchmark::DoNotOptimize(ob.store.data());
  }
  if (w.counters().accepted.Get() != w.counters().rx_packets.Get()) {
    state.SkipWithError("the switch dropped benchmark packets");
  }
  Report(state, outputs, bytes);
}

void BM_SwitchScalar(benchmark::State& state) { RunSwitch(state, MakeScalarMacKernel()); }
void BM_SwitchMultiBuffer(benchmark::State& state) { RunSwitch(state, MakeMultiBufferMacKernel()); }

// (c) libsrtp2 as Debian packages it: unprotect with the sender's key, protect per receiver.
void BM_Libsrtp(benchmark::State& state) {
  const size_t payload = state.range(0);
  const int fanout = static_cast<int>(state.range(1));
  Traffic t(payload, fanout);
  auto rx = oracle::LibsrtpSession::Receiver(t.sender_key, SrtpProfile::kAesCm128HmacSha1_80);
  std::vector<std::unique_ptr<oracle::LibsrtpSession>> txs;
  auto make_senders = [&] {
    // Fresh sessions when the pool starts over: libsrtp2 refuses to protect an index older than
    // its window even with repeats allowed.
    txs.clear();
    for (const MasterKey& k : t.receiver_keys) {
      txs.push_back(oracle::LibsrtpSession::Sender(k, SrtpProfile::kAesCm128HmacSha1_80, kSsrc, true));
    }
  };
  make_senders();
  std::vector<uint8_t> buf;
  buf.reserve(kBufCap);
  std::vector<std::vector<uint8_t>> outs(fanout);
  for (auto& o : outs) o.reserve(kBufCap);
  int at = 0;
  uint64_t outputs = 0, bytes = 0;
  bool ok = true;
  for (auto _ : state) {
    if (at == kPool) {
      state.PauseTiming();
      rx = oracle::LibsrtpSession::Receiver(t.sender_key, SrtpProfile::kAesCm128HmacSha1_80);
      make_senders();
      at = 0;
      state.ResumeTiming();
    }
    for (int i = 0; i < kBurst; ++i, ++at) {
      buf.assign(t.srtp_plain[at].begin(), t.srtp_plain[at].end());
      ok &= rx->Unprotect(buf) == srtp_err_status_ok;
      for (int r = 0; r < fanout; ++r) {
        outs[r].assign(buf.begin(), buf.end());
        ok &= txs[r]->Protect(outs[r]) == srtp_err_status_ok;
        bytes += outs[r].size();
      }
      outputs += fanout;
    }
  }
  if (!ok) state.SkipWithError("libsrtp2 failed");
  Report(state, outputs, bytes);
}

// The conventional SFU's loop, shared by (d) and (e): verify + decrypt each packet once with the
// sender's key, then for every receiver copy it, rewrite the CSRC and encrypt + tag with that
// receiver's key. `unprotect(buf, len, roc)` returns the plaintext length or 0;
// `protect(r, data, len, roc)` the protected length or 0. Both are inlined.
template <typename Unprotect, typename Protect>
void RunReencrypt(benchmark::State& state, const std::vector<std::vector<uint8_t>>& pool,
                  int fanout, const char* what, Unprotect unprotect, Protect protect) {
  ReplayWindow replay;
  std::vector<uint8_t> buf(kBufCap);
  OutBuffers ob(fanout);
  int at = 0;
  uint64_t outputs = 0, bytes = 0;
  bool ok = true;
  for (auto _ : state) {
    if (at == kPool) {
      state.PauseTiming();
      replay.Reset();
      at = 0;
      state.ResumeTiming();
    }
    for (int i = 0; i < kBurst; ++i, ++at) {
      const auto& in = pool[at];
      std::memcpy(buf.data(), in.data(), in.size());
      const uint64_t index = replay.EstimateSrtpIndex(LoadBe16(buf.data() + 2));
      const uint32_t roc = static_cast<uint32_t>(index >> 16);
      const size_t n = unprotect(buf.data(), in.size(), roc);
      ok &= n != 0 && replay.Check(index) == ReplayVerdict::kNew;
      replay.Update(index);
      for (int r = 0; r < fanout; ++r) {
        std::memcpy(ob.out[r].data, buf.data(), n);
        StoreBe32(ob.out[r].data + 12, (LoadBe32(buf.data() + 12) & ~0xfu) | (1 + r % 3));
        const size_t len = protect(r, ob.out[r].data, n, roc);
        ok &= len != 0;
        bytes += len;
      }
      outputs += fanout;
    }
    benchmark::DoNotOptimize(ob.store.data());
  }
  if (!ok) state.SkipWithError(what);
  Report(state, outputs, bytes);
}

// (d) The best conventional SFU on AES-CM: ciphers fetched once, HMAC from precomputed states.
void BM_ConventionalCm(benchmark::State& state) {
  const size_t payload = state.range(0);
  const int fanout = static_cast<int>(state.range(1));
  Traffic t(payload, fanout);
  auto rx = SrtpCryptoContext::Create(t.sender_key, SrtpProfile::kAesCm128HmacSha1_80);
  std::vector<SrtpCryptoContext> txs;
  for (const MasterKey& k : t.receiver_keys) {
    txs.push_back(*SrtpCryptoContext::Create(k, SrtpProfile::kAesCm128HmacSha1_80));
  }
  RunReencrypt(
      state, t.srtp_plain, fanout, "conventional AES-CM path failed",
      [&](uint8_t* p, size_t len, uint32_t roc) { return rx->Unprotect(p, len, roc); },
      [&](int r, uint8_t* p, size_t len, uint32_t roc) { return txs[r].Protect(p, len, kBufCap, roc); });
}

// AEAD_AES_128_GCM (RFC 7714) for one key: AAD = RTP header, 16-byte tag, 12-byte IV from the salt.
class GcmSrtp {
 public:
  explicit GcmSrtp(std::mt19937_64& rng) {
    static EVP_CIPHER* const gcm = EVP_CIPHER_fetch(nullptr, "AES-128-GCM", nullptr);
    uint8_t key[16];
    for (auto& b : key) b = static_cast<uint8_t>(rng());
    for (auto& b : salt_) b = static_cast<uint8_t>(rng());
    enc_.reset(EVP_CIPHER_CTX_new());
    dec_.reset(EVP_CIPHER_CTX_new());
    EVP_EncryptInit_ex2(enc_.get(), gcm, key, nullptr, nullptr);
    EVP_DecryptInit_ex2(dec_.get(), gcm, key, nullptr, nullptr);
  }
  size_t Protect(uint8_t* p, size_t len, size_t header, uint32_t roc) {
    uint8_t iv[12];
    Iv(p, roc, iv);
    int n = 0;
    EVP_EncryptInit_ex2(enc_.get(), nullptr, nullptr, iv, nullptr);
    EVP_EncryptUpdate(enc_.get(), nullptr, &n, p, static_cast<int>(header));
    EVP_EncryptUpdate(enc_.get(), p + header, &n, p + header, static_cast<int>(len - header));
    EVP_EncryptFinal_ex(enc_.get(), p + len, &n);
    EVP_CIPHER_CTX_ctrl(enc_.get(), EVP_CTRL_GCM_GET_TAG, 16, p + len);
    return len + 16;
  }
  size_t Unprotect(uint8_t* p, size_t len, size_t header, uint32_t roc) {
    uint8_t iv[12];
    Iv(p, roc, iv);
    int n = 0;
    const size_t end = len - 16;
    EVP_DecryptInit_ex2(dec_.get(), nullptr, nullptr, iv, nullptr);
    EVP_DecryptUpdate(dec_.get(), nullptr, &n, p, static_cast<int>(header));
    EVP_DecryptUpdate(dec_.get(), p + header, &n, p + header, static_cast<int>(end - header));
    EVP_CIPHER_CTX_ctrl(dec_.get(), EVP_CTRL_GCM_SET_TAG, 16, p + end);
    return EVP_DecryptFinal_ex(dec_.get(), p + end, &n) == 1 ? end : 0;
  }

 private:
  struct Free {
    void operator()(EVP_CIPHER_CTX* c) const { EVP_CIPHER_CTX_free(c); }
  };
  void Iv(const uint8_t* p, uint32_t roc, uint8_t iv[12]) const {
    uint8_t x[12] = {0, 0, p[8], p[9], p[10], p[11]};
    StoreBe32(x + 6, roc);
    x[10] = p[2];
    x[11] = p[3];
    for (int i = 0; i < 12; ++i) iv[i] = x[i] ^ salt_[i];
  }
  uint8_t salt_[12];
  std::unique_ptr<EVP_CIPHER_CTX, Free> enc_, dec_;
};

// (e) AEAD_AES_128_GCM: decrypt once, re-encrypt per receiver.
void BM_ConventionalGcm(benchmark::State& state) {
  const size_t payload = state.range(0);
  const int fanout = static_cast<int>(state.range(1));
  Traffic t(payload, fanout);
  std::mt19937_64 rng(5);
  GcmSrtp sender(rng);
  std::vector<GcmSrtp> txs;
  for (int i = 0; i < fanout; ++i) txs.emplace_back(rng);
  const size_t header = 16;  // 12 + one CSRC
  std::vector<std::vector<uint8_t>> pool;
  for (const auto& p : t.plain) {
    std::vector<uint8_t> q(p.size() + 16);
    std::memcpy(q.data(), p.data(), p.size());
    sender.Protect(q.data(), p.size(), header, 0);
    pool.push_back(q);
  }
  GcmSrtp rx = std::move(sender);
  RunReencrypt(
      state, pool, fanout, "GCM path failed",
      [&](uint8_t* p, size_t len, uint32_t roc) { return rx.Unprotect(p, len, header, roc); },
      [&](int r, uint8_t* p, size_t len, uint32_t roc) { return txs[r].Protect(p, len, header, roc); });
}

// (f) The floor: the multi-buffer HMACs the switch must compute, and nothing else — one per output
// over the same number of bytes (rewritten header + payload + ROC), one kernel call per burst.
void BM_HmacFloor(benchmark::State& state) {
  auto kernel = MakeMultiBufferMacKernel();
  if (!kernel) {
    state.SkipWithError("no multi-buffer kernel on this build/CPU");
    return;
  }
  const size_t payload = state.range(0);
  const int fanout = static_cast<int>(state.range(1));
  Traffic t(payload, fanout);
  const HmacSha1Key key = HmacSha1Key::FromKey(t.sender_key.key);
  const size_t len = t.plain[0].size() + 4;  // header + payload + ROC (trailing byte stripped)
  OutBuffers ob(kBurst * fanout);
  std::vector<MacJob> jobs(kBurst * fanout);
  std::vector<std::array<uint8_t, kMacOutLen>> macs(jobs.size());
  for (size_t j = 0; j < jobs.size(); ++j) {
    std::memcpy(ob.out[j].data, t.protected_[j % kBurst].data(), len);
    jobs[j] = MacJob{ob.out[j].data, static_cast<uint32_t>(len), &key, macs[j].data()};
  }
  uint64_t outputs = 0, bytes = 0;
  for (auto _ : state) {
    kernel->Compute(jobs);
    benchmark::DoNotOptimize(macs.data());
    outputs += jobs.size();
    bytes += jobs.size() * (len - 4 + 10);
  }
  state.SetLabel(std::string(kernel->Name()));
  Report(state, outputs, bytes);
}

// EKT: the switch with keys learned from the packets. Arguments: format (0 plain SRTP, 1 in-tag,
// 2 RFC 8870), form (0 short, 1 long/full on every packet, 2 a new key on every packet), payload.
// Fan-out 4, distinct rewrites. Items = output packets; `learn` runs fan-out 1 to isolate the
// per-packet cost of learning.
void BM_SwitchEkt(benchmark::State& state) {
  const int format = static_cast<int>(state.range(0));
  const int form = static_cast<int>(state.range(1));
  const size_t payload = state.range(2);
  const int fanout = form == 2 ? 1 : 4;
  std::mt19937_64 rng(payload + format * 7 + form);
  ekt::GroupParams g;
  g.spi = 9;
  g.format = format == 2 ? ekt::EktFormat::kRfc8870 : ekt::EktFormat::kInTag;
  g.cipher = format == 2 ? ekt::EktCipher::kAesKwp128 : ekt::EktCipher::kAes128Ecb;
  { const auto k = oracle::RandomBytes(rng, 16); g.kek.assign(k.begin(), k.end()); }
  auto sender = std::move(*ekt::EktSender::Create(g, kSsrc, /*video=*/true));
  std::vector<std::vector<uint8_t>> pool;
  MasterKey plain_key = oracle::RandomMasterKey(rng);
  auto plain_tx = oracle::LibsrtpSession::Sender(plain_key, SrtpProfile::kAesCm128HmacSha1_80, kSsrc, true);
  for (int i = 0; i < kPool + 3; ++i) {
    oracle::RtpSpec r;
    r.ssrc = kSsrc;
    r.seq = static_cast<uint16_t>(i);
    r.csrcs = {(0x1234u << 12) | 0x11};
    r.payload = oracle::RandomBytes(rng, payload);
    auto rtp = oracle::BuildRtp(r);
    if (format == 0) {
      pool.push_back(oracle::ProtectWithTrailingByte(*plain_tx, rtp, 0));
      continue;
    }
    if (form == 2) (void)sender->ChangeKey();
    auto p = sender->Protect(rtp, uint8_t{0}, /*frame_start=*/form != 0);
    p.resize(p.size() + 4);  // tailroom, as receive buffers have it
    pool.push_back(std::move(p));
  }
  // The first packets of an EKT sender are long whatever the form; they prime the switch's key.
  const int prime = format == 0 ? 0 : 3;
  StreamConfig c;
  c.local_port = 16384;
  c.ssrc = kSsrc;
  c.master = plain_key;
  c.trailer = format == 0 ? TrailerFormat::kPlain
              : format == 1 ? TrailerFormat::kEktInTag : TrailerFormat::kEktRfc8870;
  c.trailing = TrailingByte::kVideoRefresh;
  c.ekt_spi = format == 0 ? 0 : g.spi;
  c.source_policy = SourcePolicy::kSignalled;
  c.source = kLegAddr;
  c.source_port = kLegPort;
  for (int i = 0; i < fanout; ++i) {
    c.routes.push_back({static_cast<uint32_t>(i), CsrcRewrite{static_cast<uint8_t>(1 + i % 3),
                                                              static_cast<uint8_t>(i / 3)}});
  }
  auto snap = std::move(*Snapshot::Build({&c, 1}, {&g, 1}));
  WorkerState w(1, MakeMultiBufferMacKernel() ? MakeMultiBufferMacKernel() : MakeScalarMacKernel());
  OutBuffers ob(kBurst * fanout);
  std::vector<PacketRef> refs(kBurst);
  auto feed = [&](int from, int n) {
    for (int i = 0; i < n; ++i) {
      auto& p = pool[from + i];
      const uint16_t len = static_cast<uint16_t>(p.size() - (format == 0 ? 0 : 4));
      refs[i] = PacketRef{p.data(), len, static_cast<uint16_t>(p.size()), 16384};
      refs[i].from = kLegAddr;
      refs[i].from_port = kLegPort;
    }
    return ProcessBurst(snap, w, {refs.data(), static_cast<size_t>(n)}, ob.out);
  };
  if (prime) feed(0, prime);
  int at = prime;
  uint64_t outputs = 0, bytes = 0;
  for (auto _ : state) {
    if (at + kBurst > kPool + prime) {
      state.PauseTiming();
      w.stream(0).replay.Reset();  // keep the learned key, forget the indices
      if (form == 2) w.stream(0).emk_len = 0;  // the pool's epochs start over: forget the key too
      at = prime;
      state.ResumeTiming();
    }
    const BurstResult r = feed(at, kBurst);
    at += kBurst;
    outputs += r.outputs;
    for (uint16_t i = 0; i < r.outputs; ++i) bytes += ob.out[i].len;
  }
  if (w.counters().accepted.Get() != w.counters().rx_packets.Get()) {
    state.SkipWithError("the switch dropped benchmark packets");
  }
  state.counters["keys_learned"] = static_cast<double>(w.counters().ekt_keys_learned.Get());
  Report(state, outputs, bytes);
}

void EktArgs(benchmark::internal::Benchmark* b) {
  b->ArgNames({"format", "form", "payload"});
  for (int64_t payload : {200, 1200}) {
    b->Args({0, 0, payload});
    for (int64_t format : {1, 2}) {
      for (int64_t form : {0, 1}) b->Args({format, form, payload});
    }
  }
  // Learning a new key on every packet (fan-out 1), against plain at fan-out 1 in BM_SwitchMultiBuffer.
  b->Args({1, 2, 200});
  b->Args({2, 2, 200});
}

void Args(benchmark::internal::Benchmark* b) {
  b->ArgNames({"payload", "fanout"});
  for (int64_t payload : {200, 1200}) {
    for (int64_t n : {1, 4, 10}) b->Args({payload, n});
  }
}

BENCHMARK(BM_SwitchScalar)->Apply(Args);
BENCHMARK(BM_SwitchMultiBuffer)->Apply(Args);
BENCHMARK(BM_Libsrtp)->Apply(Args);
BENCHMARK(BM_ConventionalCm)->Apply(Args);
BENCHMARK(BM_ConventionalGcm)->Apply(Args);
BENCHMARK(BM_HmacFloor)->Apply(Args);
BENCHMARK(BM_SwitchEkt)->Apply(EktArgs);

}  // namespace

int main(int argc, char** argv) {
  benchmark::AddCustomContext("stream_hot_bytes", std::to_string(sizeof(StreamRt) + sizeof(StreamEntry)));
  benchmark::AddCustomContext("route_hot_bytes",
                              std::to_string(sizeof(RouteGroup) + sizeof(Destination)));
  benchmark::AddCustomContext("mac_kernel_best", std::string(MakeBestMacKernel()->Name()));
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
