// Test support: a real gateway over mTLS on a free loopback port, with a dev
// PKI made in a fresh temporary folder, and agency clients for it.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "adapters/store/store.h"
#include "caselink/v1/services.grpc.pb.h"
#include "gateway/gateway_server.h"
#include "tools/client/agency_client.h"

namespace caselink::testing {

// A new empty folder under the system temp dir.
std::string MakeTempDir();

class TestGateway {
 public:
  // Creates a dev PKI and config under `dir` and starts a gateway on 127.0.0.1:0.
  explicit TestGateway(std::string dir);
  ~TestGateway();

  // Starts (again) on the same data dir, e.g. after Stop().
  void Start();
  void Stop();

  std::string target() const { return "127.0.0.1:" + std::to_string(server_->port()); }
  const std::string& pki_dir() const { return pki_dir_; }
  const v1::GatewayConfig& config() const { return config_; }
  Store& store() { return server_->store(); }
  std::unique_ptr<AgencyClient> Client(const std::string& agency_id);

  // Audit records from index `from` on.
  std::vector<v1::AuditRecord> AuditRecordsFrom(uint64_t from);
  uint64_t AuditSize();

 private:
  std::string dir_;
  std::string pki_dir_;
  v1::GatewayConfig config_;
  std::unique_ptr<GatewayServer> server_;
};

// A transfer from `region`.epb for `case_id`, with no documents.
v1::Envelope TransferEnvelope(const std::string& case_id);
v1::Envelope ActionEnvelope(const std::string& case_id, const std::string& action);

// Reads up to `max` deliveries (or until `timeout`), then cancels the stream.
std::vector<v1::Delivery> ReadDeliveries(AgencyClient& client, size_t max, absl::Duration timeout,
                                         uint64_t after_sequence = 0);

}  // namespace caselink::testing
