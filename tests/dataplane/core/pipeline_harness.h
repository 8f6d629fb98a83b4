// Drives ProcessBurst with senders protected by libsrtp2 and checks every output with libsrtp2
// receivers holding the sender's key. Shared by the pipeline tests.
#pragma once

#include <gtest/gtest.h>

#include <cstring>
#include <map>
#include <memory>
#include <random>
#include <vector>

#include "mpswitch/dataplane/core/packet.h"
#include "mpswitch/dataplane/core/pipeline.h"
#include "mpswitch/oracle/libsrtp_oracle.h"

namespace mpswitch::dataplane::testing {

struct SenderSpec {
  uint32_t ssrc = 0;
  uint16_t port = 16384;
  SrtpProfile profile = SrtpProfile::kAesCm128HmacSha1_80;
  TrailingByte trailing = TrailingByte::kNone;
  std::vector<uint32_t> csrcs;   // CSRC list the sender puts in every packet
  bool extension = false;
  uint16_t first_seq = 1000;
  std::vector<RouteConfig> routes;
  GateRef opens_gate;
};

struct Output {
  std::vector<uint8_t> bytes;
  uint32_t egress;
  uint16_t source;
};

struct BurstRun {
  BurstResult result;
  std::vector<Drop> drops;  // per input, in the order the inputs were given
  std::vector<Output> outputs;
};

class PipelineHarness {
 public:
  PipelineHarness(std::vector<SenderSpec> specs, std::unique_ptr<MacKernel> kernel, uint64_t seed = 1,
                  const GateBank* gates = nullptr)
      : specs_(std::move(specs)), rng_(seed) {
    std::vector<StreamConfig> cfgs;
    for (size_t i = 0; i < specs_.size(); ++i) {
      const SenderSpec& s = specs_[i];
      Sender snd;
      snd.key = oracle::RandomMasterKey(rng_);
      snd.seq = s.first_seq;
      snd.tx = oracle::LibsrtpSession::Sender(snd.key, s.profile, s.ssrc, /*allow_repeat_tx=*/true);
      StreamConfig c;
      c.local_port = s.port;
      c.ssrc = s.ssrc;
      c.profile = s.profile;
      c.master = snd.key;
      c.rt_slot = static_cast<uint32_t>(i);
      c.trailing = s.trailing;
      c.routes = s.routes;
      c.opens_gate = s.opens_gate;
      cfgs.push_back(c);
      senders_.push_back(std::move(snd));
    }
    auto snap = Snapshot::Build(cfgs, {}, gates);
    EXPECT_TRUE(snap.ok()) << snap.status();
    snapshot_ = std::make_unique<Snapshot>(std::move(*snap));
    worker_ = std::make_unique<WorkerState>(64, std::move(kernel));
  }

  // The next protected packet of sender `i`, as the endpoint would send it.
  std::vector<uint8_t> Next(size_t i, size_t payload_len, uint8_t trailing_value = 0) {
    Sender& snd = senders_[i];
    const SenderSpec& s = specs_[i];
    oracle::RtpSpec r;
    r.ssrc = s.ssrc;
    r.seq = snd.seq++;
    r.timestamp = 90 * r.seq;
    r.csrcs = s.csrcs;
    if (s.extension) r.extension = std::vector<uint8_t>{0x22, 1, 2, 3, 0x10, 9};
    r.payload = oracle::RandomBytes(rng_, payload_len);
    auto plain = oracle::BuildRtp(r);
    sent_[{s.ssrc, r.seq}] = plain;
    if (s.trailing != TrailingByte::kNone) {
      return oracle::ProtectWithTrailingByte(*snd.tx, plain, trailing_value);
    }
    EXPECT_EQ(snd.tx->Protect(plain), srtp_err_status_ok);
    return plain;
  }

  BurstRun Run(const std::vector<std::vector<uint8_t>>& inputs, size_t out_slots = 512,
               size_t out_capacity = 2048) {
    std::vector<std::vector<uint8_t>> in_bufs(inputs.size());
    std::vector<PacketRef> refs(inputs.size());
    for (size_t i = 0; i < inputs.size(); ++i) {
      // Exactly sized heap buffers so ASan sees any access past the packet.
      in_bufs[i] = inputs[i];
      refs[i].data = in_bufs[i].data();
      refs[i].len = static_cast<uint16_t>(in_bufs[i].size());
      refs[i].capacity = refs[i].len;
      refs[i].local_port = PortOf(inputs[i]);
      refs[i].user = reinterpret_cast<void*>(i);
    }
    std::vector<std::vector<uint8_t>> out_bufs(out_slots, std::vector<uint8_t>(out_capacity));
    std::vector<OutPacket> outs(out_slots);
    for (size_t i = 0; i < out_slots; ++i) {
      outs[i].data = out_bufs[i].data();
      outs[i].capacity = static_cast<uint16_t>(out_capacity);
    }
    BurstRun run;
    run.result = ProcessBurst(*snapshot_, *worker_, refs, outs);
    run.drops.resize(inputs.size());
    for (const PacketRef& r : refs) run.drops[reinterpret_cast<size_t>(r.user)] = r.drop;
    for (size_t i = 0; i < run.result.outputs; ++i) {
      run.outputs.push_back({std::vector<uint8_t>(outs[i].data, outs[i].data + outs[i].len),
                             outs[i].egress, outs[i].source});
    }
    return run;
  }

  // Checks one output with libsrtp2 (receiver keyed with the sender's master key, one receiver
  // per egress as a real endpoint would have) and compares it with what the sender sent.
  void VerifyOutput(const Output& o) {
    ASSERT_GE(o.bytes.size(), 12u);
    const uint32_t ssrc = LoadBe32(&o.bytes[8]);
    const uint16_t seq = LoadBe16(&o.bytes[2]);
    const size_t i = IndexOf(ssrc);
    ASSERT_LT(i, specs_.size()) << "output with unknown SSRC";
    const SenderSpec& s = specs_[i];
    auto& rx = receivers_[{o.egress, ssrc}];
    if (!rx) rx = oracle::LibsrtpSession::Receiver(senders_[i].key, s.profile);
    std::vector<uint8_t> got = o.bytes;
    ASSERT_EQ(rx->Unprotect(got), srtp_err_status_ok)
        << "libsrtp2 rejects output for egress " << o.egress << " ssrc " << ssrc << " seq " << seq;
    std::vector<uint8_t> want = sent_.at({ssrc, seq});
    if (!want.empty() && (want[0] & 0x0f) > 0) {
      uint32_t csrc = LoadBe32(&want[12]);
      for (const RouteConfig& r : s.routes) {
        if (r.egress != o.egress || !r.csrc) continue;
        csrc = (csrc & ~0xfu) | r.csrc->sink;
        if (r.csrc->output) csrc = (csrc & ~0xf00u) | (uint32_t{*r.csrc->output} << 8);
      }
      StoreBe32(&want[12], csrc);
    }
    EXPECT_EQ(got, want) << "payload or header differs after libsrtp2 decryption";
    ++verified_;
  }

  const Snapshot& snapshot() const { return *snapshot_; }
  WorkerState& worker() { return *worker_; }
  const SenderSpec& spec(size_t i) const { return specs_[i]; }
  const MasterKey& key(size_t i) const { return senders_[i].key; }
  size_t verified() const { return verified_; }
  std::mt19937_64& rng() { return rng_; }
  void ReplaceSnapshot(std::unique_ptr<Snapshot> s) { snapshot_ = std::move(s); }

  uint64_t Drops(Drop d) const {
    return worker_->counters().drops[static_cast<size_t>(d)].Get();
  }

 private:
  struct Sender {
    MasterKey key;
    uint16_t seq;
    std::unique_ptr<oracle::LibsrtpSession> tx;
  };

  uint16_t PortOf(const std::vector<uint8_t>& p) const {
    if (p.size() >= 12) {
      for (const SenderSpec& s : specs_) {
        if (s.ssrc == LoadBe32(&p[8]) || (p.size() >= 8 && s.ssrc == LoadBe32(&p[4]))) return s.port;
      }
    }
    return specs_.empty() ? 0 : specs_[0].port;
  }
  size_t IndexOf(uint32_t ssrc) const {
    for (size_t i = 0; i < specs_.size(); ++i)
      if (specs_[i].ssrc == ssrc) return i;
    return specs_.size();
  }

  std::vector<SenderSpec> specs_;
  std::mt19937_64 rng_;
  std::vector<Sender> senders_;
  std::unique_ptr<Snapshot> snapshot_;
  std::unique_ptr<WorkerState> worker_;
  std::map<std::pair<uint32_t, uint16_t>, std::vector<uint8_t>> sent_;
  std::map<std::pair<uint32_t, uint32_t>, std::unique_ptr<oracle::LibsrtpSession>> receivers_;
  size_t verified_ = 0;
};

}  // namespace mpswitch::dataplane::testing
