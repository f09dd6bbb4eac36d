// Test support: a real gateway over mTLS on a free loopback port, with a dev
// PKI made in a fresh temporary folder, agency clients for it, and envelopes
// for every action of the procedure with the documents it requires.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "adapters/blob/blob_store.h"
#include "adapters/clock/clock.h"
#include "adapters/store/store.h"
#include "caselink/v1/services.grpc.pb.h"
#include "gateway/gateway_server.h"
#include "gateway/registry.h"
#include "tools/client/agency_client.h"
#include "tools/devpki/dev_pki.h"

namespace caselink::testing {

// A new empty folder under the system temp dir.
std::string MakeTempDir();

// `agency`'s identity with a new TLS key and a certificate that names no
// registered agency: issued by the dev CA (`sign_with_dev_ca`), so the
// handshake succeeds and the gateway must refuse the caller, or by a CA of its
// own, which the handshake rejects.
AgencyIdentity ForeignIdentity(const std::string& pki_dir, const std::string& agency, bool sign_with_dev_ca);

// A dev PKI, the gateway configuration it writes and the agency registry built
// from both: what unit tests of the pipeline need without a running gateway.
struct DevPkiSetup {
  std::string dir;
  v1::GatewayConfig config;
  std::unique_ptr<AgencyRegistry> registry;
};
// Makes the PKI in `options.dir`, or in a new temp dir when that is empty; the
// registry checks certificates as of `registry_time`.
absl::StatusOr<DevPkiSetup> MakeDevPkiSetup(DevPkiOptions options = {}, absl::Time registry_time = absl::Now());

struct TestGatewayOptions {
  // Gateway time. Null: the system clock. With a ManualClock, sign envelopes
  // through TestGateway::Sign/Submit so created_at comes from it too.
  std::shared_ptr<ManualClock> clock = nullptr;
  // Regions besides 510100 that get the four agencies (e.g. "510104").
  std::vector<std::string> additional_regions = {};
  // "INTL" or "GM": the dev PKI's signing keys and the gateway's profile.
  std::string profile = "INTL";
  // Adjusts the generated configuration before the first start (e.g. a Kafka bus).
  std::function<void(v1::GatewayConfig&)> configure = nullptr;
  // Passed to every start (e.g. a store decorator that holds reads, a smaller read queue).
  GatewayServerOptions server = {};
};

// 2026-03-02 09:00 China Standard Time, a Monday; the scenario tests' "now".
absl::Time ScenarioStart();

class TestGateway {
 public:
  // Creates a dev PKI and config under `dir`, starts a gateway on 127.0.0.1:0
  // and uploads the standard documents (see StandardDocument).
  explicit TestGateway(std::string dir, TestGatewayOptions options = {});
  ~TestGateway();

  // Starts (again) on the same data dir, e.g. after Stop().
  void Start();
  void Stop();

  std::string target() const { return "127.0.0.1:" + std::to_string(server_->port()); }
  const std::string& pki_dir() const { return pki_dir_; }
  const v1::GatewayConfig& config() const { return config_; }
  // The configuration the next Start() uses, e.g. a bus for a gateway that ran without one.
  v1::GatewayConfig& mutable_config() { return config_; }
  Store& store() { return server_->store(); }
  GatewayServer& server() { return *server_; }
  std::unique_ptr<AgencyClient> Client(const std::string& agency_id);

  // The gateway's time (the ManualClock when one was given).
  absl::Time Now() const;
  ManualClock* clock() { return options_.clock.get(); }
  // Fires the deadlines due at the gateway's time; returns when that is durable.
  void CheckDeadlines() { server_->CheckDeadlines(); }

  // Sign and submit with created_at taken from the gateway's clock. Under GM
  // the standard documents are referenced by SM3 (UseProfileDigests).
  absl::StatusOr<v1::SignedEnvelope> Sign(AgencyClient& client, v1::Envelope envelope) const;
  absl::StatusOr<v1::SubmitResponse> Submit(AgencyClient& client, v1::Envelope envelope) const;

  // Audit records from index `from` on.
  std::vector<v1::AuditRecord> AuditRecordsFrom(uint64_t from);
  uint64_t AuditSize();

 private:
  std::string dir_;
  std::string pki_dir_;
  TestGatewayOptions options_;
  v1::GatewayConfig config_;
  std::unique_ptr<GatewayServer> server_;
};

// A small document of `type` whose bytes (StandardDocumentBytes) every
// TestGateway uploads at start, so envelopes may reference it.
v1::DocumentRef StandardDocument(v1::DocumentType type);
std::string StandardDocumentBytes(v1::DocumentType type);
// Rewrites the references to standard documents for `profile`: SM3 digests
// under GM (what Upload returns there), SHA-256 under INTL.
void UseProfileDigests(v1::Envelope& envelope, v1::CryptoProfile profile);
// The document types the procedure table requires anywhere.
std::vector<v1::DocumentType> RequiredDocumentTypes();
// Uploads every required type's standard document through `client`.
absl::Status UploadStandardDocuments(AgencyClient& client);
// Writes them straight into a blob store (for pipeline tests without a server).
absl::Status SeedStandardDocuments(BlobStore& blobs);
// Adds a standard document of every type the table requires for the
// envelope's action and decision (in any state) that it does not carry yet.
void AddRequiredDocuments(v1::Envelope& envelope);

// The first column of the first row `sql` returns from the gateway's store
// file, read on a connection of its own (e.g. what its schema holds); -1 when
// the query fails or returns no row.
int64_t QueryStoreFile(const TestGateway& gateway, const char* sql);

// A transfer of `case_id` from 510100.epb with the required documents.
v1::Envelope TransferEnvelope(const std::string& case_id);
// An envelope for `action` on `case_id` with a valid payload for `branch`
// (e.g. "upheld"; "" for actions without decisions) and the documents the
// procedure requires. Referrals go to 510104.psb, charges to 510100.court.
v1::Envelope ActionEnvelope(const std::string& case_id, v1::Envelope::ActionCase action,
                            absl::string_view branch = "");
// The same by action name, e.g. "filing".
v1::Envelope ActionEnvelope(const std::string& case_id, const std::string& action, absl::string_view branch = "");

// Reads up to `max` deliveries (or until `timeout`), then cancels the stream.
std::vector<v1::Delivery> ReadDeliveries(AgencyClient& client, size_t max, absl::Duration timeout,
                                         uint64_t after_sequence = 0);

}  // namespace caselink::testing
