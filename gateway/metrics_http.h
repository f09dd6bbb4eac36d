// A small HTTP/1.1 server for Prometheus scrapes: GET /metrics answers with the
// text a render function returns; anything else gets 404 or 405. One thread,
// one connection at a time, closed after each answer: a scraper asks every few
// seconds, and nothing here touches the request path.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "absl/status/statusor.h"

namespace caselink {

class MetricsHttpServer {
 public:
  using Render = std::function<std::string()>;

  // Listens on `address` (host:port; port 0 picks a free one) and serves until
  // destroyed. INVALID_ARGUMENT for an address that is not host:port,
  // UNAVAILABLE when it cannot be bound; both name the address.
  static absl::StatusOr<std::unique_ptr<MetricsHttpServer>> Start(const std::string& address, Render render);
  virtual ~MetricsHttpServer() = default;

  // The bound port.
  virtual int port() const = 0;
};

// GET http://<address><path> with a timeout; the body of a 200 answer, or an
// error naming the address and what went wrong. For readers of a gateway's
// metrics (the load generator, tests).
absl::StatusOr<std::string> HttpGet(const std::string& address, const std::string& path, int timeout_ms = 5000);

}  // namespace caselink
