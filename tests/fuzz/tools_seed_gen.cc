// Writes the seed corpora of the tools' fuzz targets: a simulated room's datagrams (its cameras'
// and microphones' first packets, under the KEK sim_receiver_fuzz uses) and rtpengine-style ng
// replies and SDP bodies. Usage: tools_seed_gen CORPUS_DIR (see corpus/README.md).
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "mpswitch/sim/room.h"

namespace fs = std::filesystem;

namespace {

void Write(const fs::path& dir, const std::string& name, const std::string& bytes) {
  fs::create_directories(dir);
  std::ofstream(dir / name, std::ios::binary) << bytes;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s CORPUS_DIR\n", argv[0]);
    return 2;
  }
  const fs::path root = argv[1];
  mpswitch::ekt::GroupParams g;  // the group of sim_receiver_fuzz.cc
  g.spi = 3;
  g.kek.assign(16, 0x5a);
  g.salt.fill(0x33);
  mpswitch::sim::RoomSpec spec;
  spec.name = "seed";
  spec.id = 1;
  spec.screens = 3;
  spec.ssrc_base = 0x50000100u;
  spec.video_kbps = 300;
  auto sender = mpswitch::sim::RoomSender::Create(spec, g, nullptr, nullptr, 1);
  if (!sender.ok()) return 1;
  std::vector<mpswitch::sim::Outgoing> out;
  for (int64_t t = 0; t <= 100; t += 20) (*sender)->Poll(t, 1, out);
  for (size_t i = 0; i < out.size() && i < 24; ++i) {
    const std::string flag(1, static_cast<char>(out[i].video ? 1 : 0));
    Write(root / "sim_receiver_fuzz", "packet" + std::to_string(i),
          flag + std::string(out[i].bytes.begin(), out[i].bytes.end()));
  }
  const std::string sdp =
      "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
      "m=video 30000 RTP/SAVP 96\r\na=rtpmap:96 VP8/90000\r\n"
      "a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz\r\n"
      "a=crypto:2 AES_CM_128_HMAC_SHA1_32 inline:QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVphYmNk\r\n"
      "a=sendrecv\r\n";
  Write(root / "ng_fuzz", "sdp_savp", sdp);
  Write(root / "ng_fuzz", "pong", "d6:result4:ponge");
  Write(root / "ng_fuzz", "answer",
        "d3:sdp" + std::to_string(sdp.size()) + ":" + sdp + "6:result2:oke");
  Write(root / "ng_fuzz", "error", "d12:error-reason13:Unknown call6:result5:errore");
  Write(root / "ng_fuzz", "nested", "d4:listli1ei-2el3:abcee5:totali42ee");
  return 0;
}
