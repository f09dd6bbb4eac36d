// Assembles a running gateway from its configuration: registry, store, blobs,
// pipeline and the TLS gRPC server with health and reflection.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "adapters/clock/clock.h"
#include "adapters/store/store.h"
#include "caselink/v1/config.pb.h"
#include "gateway/read_executor.h"

namespace caselink {

// What embedding applications and tests may change beyond the config file.
struct GatewayServerOptions {
  // Wraps the store once it is opened: everything in the gateway then uses the
  // returned one (tests decorate the SQLite store, e.g. to hold reads). Null:
  // the store as opened.
  std::function<std::unique_ptr<Store>(std::unique_ptr<Store>)> decorate_store = nullptr;
  // The threads and queue bound of the read RPCs' store reads.
  ReadExecutorOptions reads = {};
  // Envelopes one SubmitStream call may hold before the gateway stops reading
  // it; 0: the default (kDefaultSubmitStreamWindow in gateway/services.h).
  size_t submit_stream_window = 0;
};

class GatewayServer {
 public:
  // Opens everything and starts serving. `clock` may be null (system clock).
  static absl::StatusOr<std::unique_ptr<GatewayServer>> Start(const v1::GatewayConfig& config,
                                                              std::shared_ptr<const Clock> clock = nullptr,
                                                              GatewayServerOptions options = {});
  virtual ~GatewayServer() = default;

  // The bound port (useful when the config asks for port 0).
  virtual int port() const = 0;
  // The port serving /metrics, or 0 when metrics_address is empty.
  virtual int metrics_port() const = 0;
  // Stops accepting calls, lets calls in flight finish (up to `grace`), drains
  // queued commits and closes the store.
  virtual void Shutdown(absl::Duration grace = absl::Seconds(5)) = 0;
  // The gateway's store, for embedding applications and tests that inspect
  // the audit log; reads only.
  virtual Store& store() = 0;
  // Handles every deadline due at the clock's current reading before it
  // returns; for clocks that jump (tests' ManualClock). The deadline engine
  // otherwise wakes by itself at the earliest due time.
  virtual void CheckDeadlines() = 0;
  // Re-reads the gateway's signing keys from `config` (gateway_signing_key and
  // previous_gateway_signing_keys) while serving: new receipts are signed with the
  // new key, the old one is published as previous; audited with both key ids. On
  // error the key in use stays and the error says why.
  virtual absl::Status ReloadSigningKeys(const v1::GatewayConfig& config) = 0;
};

}  // namespace caselink
