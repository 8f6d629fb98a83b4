// The socket backend as the control loop's Dataplane.
#pragma once

#include <vector>

#include "mpswitch/control/media_switch.h"
#include "mpswitch/dataplane/io/socket_backend.h"

namespace mpswitch::control {

class SocketDataplane final : public Dataplane {
 public:
  explicit SocketDataplane(dataplane::io::SocketBackend& backend) : backend_(backend) {}
  absl::Status Publish(dataplane::DataplaneTables tables) override {
    return backend_.Publish(std::move(tables));
  }
  std::vector<const dataplane::WorkerState*> workers() const override {
    std::vector<const dataplane::WorkerState*> w;
    for (uint32_t i = 0; i < backend_.workers(); ++i) w.push_back(&backend_.worker_state(i));
    return w;
  }
  void Reclaim() override { backend_.Reclaim(); }

 private:
  dataplane::io::SocketBackend& backend_;
};

}  // namespace mpswitch::control
