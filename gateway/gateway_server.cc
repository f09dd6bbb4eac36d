// Gateway assembly and lifecycle.
#include "gateway/gateway_server.h"

#include <algorithm>
#include <condition_variable>
#include <cstdio>
#include <mutex>
#include <thread>

#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/health_check_service_interface.h>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/synchronization/mutex.h"
#include "adapters/bus/rdkafka_publisher.h"
#include "adapters/bus/topic_admin.h"
#include "adapters/blob/blob_store.h"
#include "adapters/store/store.h"
#include "gateway/audit_log.h"
#include "gateway/audit_service.h"
#include "gateway/config.h"
#include "gateway/deadline_engine.h"
#include "gateway/deadlines/holiday_calendar.h"
#include "gateway/statistics_service.h"
#include "grpc/health/v1/health.pb.h"
#include "gateway/delivery_hub.h"
#include "gateway/gateway_keyring.h"
#include "gateway/kafka_audit_relay.h"
#include "gateway/kafka_ingress.h"
#include "gateway/kafka_relay.h"
#include "gateway/metrics.h"
#include "gateway/metrics_http.h"
#include "gateway/rpc_metrics.h"
#include "gateway/read_executor.h"
#include "gateway/receipt_signing_pool.h"
#include "gateway/registry.h"
#include "gateway/services.h"
#include "gateway/submission_pipeline.h"
#include "gateway/crypto_profile.h"
#include "security/digest.h"
#include "security/signer_factory.h"

namespace caselink {
namespace {

class GatewayServerImpl final : public GatewayServer {
 public:
  ~GatewayServerImpl() override { Shutdown(absl::Seconds(1)); }

  int port() const override { return port_; }
  int metrics_port() const override { return metrics_http_ ? metrics_http_->port() : 0; }
  Store& store() override { return *store_; }
  void CheckDeadlines() override {
    if (deadline_engine_ != nullptr) deadline_engine_->CheckNow();
  }

  void Shutdown(absl::Duration grace) override {
    // Its gauges read the store, which closes below.
    metrics_http_.reset();
    // Kafka ingress first: a record in hand finishes (or stays uncommitted) while the
    // pipeline still runs.
    if (ingress_ != nullptr) ingress_->Stop();
    // Before the store closes: a deadline firing now still commits.
    if (deadline_engine_ != nullptr) deadline_engine_->Stop();
    if (stopped_ || server_ == nullptr) {
      StopRelay();
      if (reads_ != nullptr) reads_->Shutdown();
      if (store_ != nullptr) store_->Shutdown();
      return;
    }
    stopped_ = true;
    server_->Shutdown(std::chrono::system_clock::now() + absl::ToChronoSeconds(grace));
    // The calls have ended; reads still queued run now, against an open store.
    reads_->Shutdown();
    v1::AuditRecord r;
    r.set_action("gateway.stop");
    r.set_outcome(v1::AuditRecord::SYSTEM);
    r.set_reason("graceful shutdown");
    store_->WriteAndWait([&](StoreTransaction& txn) { return pipeline_->RecordEventNow(txn, r); }).IgnoreError();
    StopTreeHeadTimer();
    // A final signed head covers everything up to the stop record.
    SignCurrentTreeHead(*store_, ProfileTreeHasher(config_.profile()), *keyring_->Current()->signer, clock_->Now())
            .IgnoreError();
    StopRelay();
    store_->Shutdown();
  }

  // After the last write that adds deliveries, before the store closes.
  void StopRelay() {
    if (relay_ == nullptr) return;
    for (const std::string& id : agency_ids_) hub_->RemoveListener(id, relay_.get());
    const uint64_t left = relay_->Stop(absl::Seconds(10));
    const uint64_t audit_left = audit_relay_->Stop(absl::Seconds(10));
    // Reports that arrive while closing are ignored by the stopped relay; their rows
    // stay unpublished and go out after the next start.
    publisher_->Close(absl::Seconds(1));
    if (left > 0) {
      std::fprintf(stderr, "caselink: %llu deliveries not yet on Kafka; they are sent after the next start\n",
                   static_cast<unsigned long long>(left));
    }
    if (audit_left > 0) {
      std::fprintf(stderr, "caselink: %llu audit entries not yet on Kafka; they are sent after the next start\n",
                   static_cast<unsigned long long>(audit_left));
    }
    relay_.reset();
    audit_relay_.reset();
    publisher_.reset();
  }

  // Kafka mode: topics first (an unreachable cluster fails start-up), then the relay.
  absl::Status StartKafka() {
    const v1::KafkaConfig kafka = KafkaConfigWithDefaults(config_.kafka());
    const absl::Duration timeout =
        absl::Seconds(kafka.startup_timeout_seconds() == 0 ? 15 : kafka.startup_timeout_seconds());
    const KafkaClientOptions client = KafkaClientOptionsFrom(kafka);
    auto admin = TopicAdmin::Create(client);
    if (!admin.ok()) return admin.status();
    if (auto st = (*admin)->CreateTopics(GatewayTopics(kafka, agency_ids_), timeout); !st.ok()) {
      return absl::UnavailableError(absl::StrCat("Kafka at ", kafka.bootstrap_servers(),
                                                 " could not create or confirm the gateway's topics within ",
                                                 absl::FormatDuration(timeout), ": ", st.message()));
    }
    RdKafkaPublisherOptions publisher_options;
    publisher_options.client = client;
    auto publisher = RdKafkaPublisher::Create(std::move(publisher_options));
    if (!publisher.ok()) return publisher.status();
    publisher_ = std::move(*publisher);
    KafkaRelayOptions relay_options;
    relay_options.topic_prefix = kafka.topic_prefix();
    relay_ = std::make_unique<KafkaRelay>(*store_, *publisher_, relay_options);
    for (const std::string& id : agency_ids_) hub_->AddListener(id, relay_.get());
    relay_->Start();
    KafkaAuditRelayOptions audit_options;
    audit_options.topic = AuditTopic(kafka.topic_prefix());
    audit_options.cursor_file = config_.data_dir() + "/kafka-audit.cursor";
    audit_relay_ = std::make_unique<KafkaAuditRelay>(*store_, *publisher_, audit_options);
    return audit_relay_->Start();
  }

  // Kafka mode: envelopes from <prefix>.ingress through the same pipeline as gRPC Submit.
  absl::Status StartKafkaIngress() {
    const v1::KafkaConfig kafka = KafkaConfigWithDefaults(config_.kafka());
    KafkaIngressOptions options;
    options.client = KafkaClientOptionsFrom(kafka);
    options.topic_prefix = kafka.topic_prefix();
    // One gateway, one data directory: a restart of the same gateway is the same member.
    options.instance_id = absl::StrCat(
        "gateway-", absl::BytesToHexString(security::Sha256(config_.data_dir())).substr(0, 16));
    auto ingress = KafkaIngress::Create(std::move(options), *pipeline_, *registry_, *publisher_);
    if (!ingress.ok()) return ingress.status();
    ingress_ = std::move(*ingress);
    ingress_->Start();
    return absl::OkStatus();
  }

  absl::Status Init(const v1::GatewayConfig& config, std::shared_ptr<const Clock> clock, const GatewayServerOptions& options) {
    config_ = config;
    clock_ = clock ? std::move(clock) : std::make_shared<SystemClock>();
    auto read = [](const std::string& path, std::string& out) -> absl::Status {
      auto text = ReadFileToString(path);
      if (!text.ok()) return text.status();
      out = std::move(*text);
      return absl::OkStatus();
    };
    std::string server_cert, server_key, client_ca;
    for (auto [path, out] : {std::pair{config.tls().server_certificate_file(), &server_cert},
                             std::pair{config.tls().server_private_key_file(), &server_key},
                             std::pair{config.tls().client_ca_file(), &client_ca}}) {
      if (auto st = read(path, *out); !st.ok()) return st;
    }
    auto registry_proto = LoadRegistryFile(config.registry_file());
    if (!registry_proto.ok()) return registry_proto.status();
    auto registry = AgencyRegistry::Create(*registry_proto, client_ca, clock_->Now(), config.profile(),
                                           absl::Milliseconds(config.crl_check_interval_ms()));
    if (!registry.ok()) return registry.status();
    registry_ = std::move(*registry);
    for (const v1::Agency& agency : registry_proto->agencies()) agency_ids_.push_back(agency.id());
    // The gateway signs with whatever key it is given, as long as the profile allows it: SM2 under GM.
    auto keyring = GatewayKeyring::Create(config);
    if (!keyring.ok()) return keyring.status();
    keyring_ = std::move(*keyring);
    signer_ = keyring_.get();
    gateway_cert_pem_ = keyring_->Current()->certificate_pem;

    SqliteStoreOptions store_options;
    store_options.data_dir = config.data_dir();
    store_options.max_batch = config.store().max_batch();
    store_options.durable = config.store().synchronous() != "normal";
    store_options.outbox_index = config.kafka().bootstrap_servers().empty() ? SqliteStoreOptions::OutboxIndex::kDrop
                                                                            : SqliteStoreOptions::OutboxIndex::kKeep;
    auto store = OpenSqliteStore(store_options);
    if (!store.ok()) return store.status();
    store_ = std::move(*store);
    if (options.decorate_store) store_ = options.decorate_store(std::move(store_));
    auto blobs = OpenFileBlobStore(config.data_dir() + "/blobs");
    if (!blobs.ok()) return blobs.status();
    blobs_ = std::move(*blobs);

    hub_ = std::make_unique<DeliveryHub>();
    if (!config.kafka().bootstrap_servers().empty()) {
      if (auto st = StartKafka(); !st.ok()) return st;
    }
    if (!config.holiday_calendar_file().empty()) {
      auto calendar = deadlines::HolidayCalendar::LoadFromFile(config.holiday_calendar_file());
      if (!calendar.ok()) {
        return absl::InvalidArgumentError(absl::StrCat("holiday_calendar_file: ", calendar.status().message()));
      }
      calendar_ = std::move(*calendar);
    }
    // The engine audits through the pipeline, which exists before anything can fire.
    deadline_engine_ = std::make_unique<DeadlineEngine>(DeadlineEngineDeps{
        *store_, *registry_, *clock_, *hub_,
        [this](StoreTransaction& txn, v1::AuditRecord r) { return pipeline_->AppendAudit(txn, std::move(r)); }});
    // One signing thread per CPU (at most 4): at full load the writer queues a
    // group's receipts faster than one thread signs them.
    receipt_signing_ = std::make_unique<ReceiptSigningPool>(std::clamp(std::thread::hardware_concurrency(), 1u, 4u));
    PipelineDeps pipeline_deps{*store_, *registry_, *signer_, *clock_, *blobs_, *hub_,
                               config_, calendar_.get(), deadline_engine_.get()};
    pipeline_deps.keyring = keyring_.get();
    pipeline_deps.receipt_signing = receipt_signing_.get();
    pipeline_deps.metrics = &metrics_;
    pipeline_ = std::make_unique<SubmissionPipeline>(pipeline_deps);
    peers_ = std::make_unique<PeerIdentifier>(*registry_, clock_.get());
    ServiceContext ctx{*pipeline_, *store_, *registry_, *blobs_, *hub_, config_, gateway_cert_pem_, signer_->algorithm()};
    ctx.gateway_keys = keyring_.get();
    if (options.submit_stream_window > 0) ctx.submit_stream_window = options.submit_stream_window;
    auto reads = ReadExecutor::Create(options.reads);
    if (!reads.ok()) return reads.status();
    reads_ = std::move(*reads);
    ctx.reads = reads_.get();
    case_service_ = std::make_unique<CaseServiceImpl>(ctx, *peers_);
    delivery_service_ = std::make_unique<DeliveryServiceImpl>(ctx, *peers_);
    document_service_ = std::make_unique<DocumentServiceImpl>(ctx, *peers_);
    audit_service_ = std::make_unique<AuditServiceImpl>(ctx, *peers_, *keyring_, *clock_, ProfileTreeHasher(config_.profile()));
    statistics_service_ = std::make_unique<StatisticsServiceImpl>(ctx, *peers_);
    gateway_service_ = std::make_unique<GatewayServiceImpl>(ctx, *peers_);

    if (!config.metrics_address().empty()) {
      if (auto st = StartMetrics(); !st.ok()) {
        store_->Shutdown();
        return st;
      }
    }

    // Referencing the health proto keeps its descriptor linked in, so
    // reflection can describe grpc.health.v1 to grpcurl.
    (void)grpc::health::v1::HealthCheckRequest::descriptor();
    grpc::EnableDefaultHealthCheckService(true);
    grpc::reflection::InitProtoReflectionServerBuilderPlugin();
    grpc::SslServerCredentialsOptions ssl(GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
    ssl.pem_root_certs = client_ca;
    ssl.pem_key_cert_pairs.push_back({server_key, server_cert});
    grpc::ServerBuilder builder;
    builder.AddListeningPort(config.listen_address(), grpc::SslServerCredentials(ssl), &port_);
    // Larger than the envelope limit so an oversized envelope reaches the
    // pipeline and is refused with a clear, audited message.
    builder.SetMaxReceiveMessageSize(static_cast<int>(config.max_envelope_bytes()) * 2 + (64 << 10));
    // A fixed 4 MiB stream window instead of BDP probing: probing let the window, and with it the
    // data buffered for a document upload, grow with the upload; 4 MiB keeps memory flat.
    builder.AddChannelArgument(GRPC_ARG_HTTP2_BDP_PROBE, 0);
    builder.AddChannelArgument(GRPC_ARG_HTTP2_STREAM_LOOKAHEAD_BYTES, 4 << 20);
    builder.RegisterService(case_service_.get());
    builder.RegisterService(delivery_service_.get());
    builder.RegisterService(document_service_.get());
    builder.RegisterService(audit_service_.get());
    builder.RegisterService(statistics_service_.get());
    builder.RegisterService(gateway_service_.get());
    if (metrics_http_ != nullptr) {
      // Only with metrics served: an interceptor runs on every message of every call.
      std::vector<std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>> interceptors;
      interceptors.push_back(NewRpcCountingInterceptorFactory(metrics_));
      builder.experimental().SetInterceptorCreators(std::move(interceptors));
    }
    server_ = builder.BuildAndStart();
    if (server_ == nullptr || port_ == 0) {
      store_->Shutdown();
      return absl::UnavailableError(absl::StrCat("cannot listen on ", config.listen_address(), " (address in use or not local?)"));
    }
    v1::AuditRecord r;
    r.set_action("gateway.start");
    r.set_outcome(v1::AuditRecord::SYSTEM);
    r.set_reason(absl::StrCat("listening on port ", port_, "; registry version ", registry_->version(), "; profile ",
                              v1::CryptoProfile_Name(config.profile())));
    if (auto st = store_->WriteAndWait([&](StoreTransaction& txn) { return pipeline_->RecordEventNow(txn, r); }); !st.ok()) {
      return st;
    }
    if (auto st = RecordTrustAtStart(); !st.ok()) return st;
    // Deadlines that were running when the gateway stopped (or fell due meanwhile).
    if (auto st = deadline_engine_->LoadRunning(); !st.ok()) return st;
    if (publisher_ != nullptr) {
      if (auto st = StartKafkaIngress(); !st.ok()) return st;
    }
    tree_head_thread_ = std::thread([this, interval = absl::Seconds(config.tree_head_interval_seconds())] {
      std::unique_lock<std::mutex> lock(timer_mu_);
      while (!timer_stop_) {
        // Signed on a schedule only when the log grew; SignCurrentTreeHead
        // returns the stored head when it has not.
        lock.unlock();
        SignCurrentTreeHead(*store_, ProfileTreeHasher(config_.profile()), *keyring_->Current()->signer, clock_->Now())
            .IgnoreError();
        lock.lock();
        timer_cv_.wait_for(lock, absl::ToChronoSeconds(interval), [this] { return timer_stop_; });
      }
    });
    return absl::OkStatus();
  }

  // Gauges read at each scrape, on the metrics thread; then the listener.
  absl::Status StartMetrics() {
    metrics_.AddGauge({"caselink_audit_tree_size", "Entries in the audit log's Merkle tree.", [this](double& v) {
                         auto size = store_->ReadAuditSize();
                         if (!size.ok()) return false;
                         v = static_cast<double>(*size);
                         return true;
                       }});
    // Both from one read of the running deadlines.
    metrics_.AddGauges({{{"caselink_deadlines_running", "Statutory deadlines running over all cases."},
                         {"caselink_deadlines_overdue", "Running statutory deadlines whose due time has passed."}},
                        [this](std::vector<double>& values) {
                          auto running = store_->ListRunningDeadlines();
                          if (!running.ok()) return false;
                          const int64_t now = absl::ToUnixMicros(clock_->Now());
                          double overdue = 0;
                          for (const RunningDeadline& d : *running) {
                            if (d.due_micros <= now) overdue += 1;
                          }
                          values = {static_cast<double>(running->size()), overdue};
                          return true;
                        }});
    if (publisher_ != nullptr) {
      metrics_.AddGauge({"caselink_outbox_unpublished", "Deliveries not yet acknowledged by Kafka.", [this](double& v) {
                           auto n = store_->CountUnpublishedDeliveries();
                           if (!n.ok()) return false;
                           v = static_cast<double>(*n);
                           return true;
                         }});
    }
    auto http = MetricsHttpServer::Start(config_.metrics_address(), [this] { return metrics_.RenderPrometheus(); });
    if (!http.ok()) return http.status();
    metrics_http_ = std::move(*http);
    return absl::OkStatus();
  }

  // Start-up: signing keys that cannot sign (the registry loaded without them) and the
  // CRLs in force go to the log and the audit trail; later CRL reloads are audited as
  // they happen.
  absl::Status RecordTrustAtStart() {
    std::vector<v1::AuditRecord> records;
    for (const std::string& warning : registry_->warnings()) {
      std::fprintf(stderr, "caselink: warning: %s\n", warning.c_str());
      v1::AuditRecord r;
      r.set_action("registry.signing_key_unusable");
      r.set_outcome(v1::AuditRecord::SYSTEM);
      r.set_reason(warning);
      records.push_back(std::move(r));
    }
    SigningTrust& trust = registry_->signing_trust();
    if (!trust.initial_load().files.empty()) {
      records.push_back(CrlAuditRecord(trust.initial_load()));
    }
    trust.SetListener([this](const CrlLoadEvent& event) {
      v1::AuditRecord r = CrlAuditRecord(event);
      std::fprintf(stderr, "caselink: %s: %s\n", r.action().c_str(), r.reason().c_str());
      // Queued before the request that noticed the change is decided, so its refusal
      // follows the reload in the log.
      pipeline_->RecordEvent(std::move(r), [](absl::Status) {});
    });
    if (records.empty()) return absl::OkStatus();
    return store_->WriteAndWait([&](StoreTransaction& txn) -> absl::Status {
      for (const auto& r : records) {
        if (auto st = pipeline_->RecordEventNow(txn, r); !st.ok()) return st;
      }
      return absl::OkStatus();
    });
  }

  static v1::AuditRecord CrlAuditRecord(const CrlLoadEvent& event) {
    v1::AuditRecord r;
    r.set_outcome(v1::AuditRecord::SYSTEM);
    if (event.status.ok()) {
      r.set_action(event.initial ? "crl.load" : "crl.reload");
      r.set_reason(absl::StrCat("signing CRLs in force: ", DescribeCrls(event.crls)));
    } else {
      r.set_action("crl.reload_failed");
      r.set_status_code(absl::StatusCodeToString(event.status.code()));
      r.set_reason(absl::StrCat(event.status.message(), "; the CRLs in force before stay in force"));
    }
    return r;
  }

  absl::Status ReloadSigningKeys(const v1::GatewayConfig& config) override {
    if (store_ == nullptr || stopped_) return absl::FailedPreconditionError("the gateway is not serving");
    if (config.profile() != config_.profile()) {
      return absl::InvalidArgumentError("the crypto profile cannot change while serving; restart the gateway");
    }
    absl::Status outcome;
    auto rotate = [&](StoreTransaction& txn) -> absl::Status {
      v1::AuditRecord r;
      r.set_action("gateway.signing_key_rotation");
      auto ids = keyring_->Reload(config);
      if (!ids.ok()) {
        outcome = ids.status();
        r.set_outcome(v1::AuditRecord::REFUSED);
        r.set_status_code(absl::StatusCodeToString(ids.status().code()));
        r.set_reason(absl::StrCat("signing key reload failed, the key in use stays: ", ids.status().message()));
      } else {
        r.set_outcome(v1::AuditRecord::SYSTEM);
        std::vector<std::string> previous;
        for (const auto& k : keyring_->Published()) {
          if (k.key_id != ids->second) previous.push_back(k.key_id);
        }
        r.set_reason(absl::StrCat("receipts are now signed with key ", ids->second, " (was ", ids->first,
                                  "); previous keys published: ", absl::StrJoin(previous, ", ")));
      }
      return pipeline_->RecordEventNow(txn, r);
    };
    // On the writer thread, where receipts pin their key, so none is half old key, half new;
    // as a step, which runs once, because the store may run a group's works twice.
    absl::Status st = store_->WriteAndWait([&](StoreTransaction& txn) { return txn.BeforeCommit(rotate); });
    if (!st.ok()) return st;
    return outcome;
  }

  void StopTreeHeadTimer() {
    {
      std::lock_guard<std::mutex> lock(timer_mu_);
      timer_stop_ = true;
    }
    timer_cv_.notify_all();
    if (tree_head_thread_.joinable()) tree_head_thread_.join();
  }

 private:
  v1::GatewayConfig config_;
  std::shared_ptr<const Clock> clock_;
  std::string gateway_cert_pem_;
  std::unique_ptr<AgencyRegistry> registry_;
  std::unique_ptr<GatewayKeyring> keyring_;
  // Before store_: destroyed after it, since the writer waits for its signatures.
  std::unique_ptr<ReceiptSigningPool> receipt_signing_;
  const security::Signer* signer_ = nullptr;  // the keyring, for receipts on the writer thread
  std::unique_ptr<Store> store_;
  std::unique_ptr<BlobStore> blobs_;
  std::unique_ptr<DeliveryHub> hub_;
  std::vector<std::string> agency_ids_;
  std::unique_ptr<Publisher> publisher_;  // Kafka mode only
  std::unique_ptr<KafkaRelay> relay_;
  std::unique_ptr<KafkaAuditRelay> audit_relay_;
  std::unique_ptr<deadlines::HolidayCalendar> calendar_;
  std::unique_ptr<DeadlineEngine> deadline_engine_;
  std::unique_ptr<SubmissionPipeline> pipeline_;
  std::unique_ptr<KafkaIngress> ingress_;  // Kafka mode only; uses pipeline_ and publisher_
  std::unique_ptr<PeerIdentifier> peers_;
  std::unique_ptr<ReadExecutor> reads_;  // the read RPCs' store reads; stopped before the store
  std::unique_ptr<CaseServiceImpl> case_service_;
  std::unique_ptr<DeliveryServiceImpl> delivery_service_;
  std::unique_ptr<DocumentServiceImpl> document_service_;
  std::unique_ptr<AuditServiceImpl> audit_service_;
  std::unique_ptr<StatisticsServiceImpl> statistics_service_;
  std::unique_ptr<GatewayServiceImpl> gateway_service_;
  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;
  bool stopped_ = false;
  std::mutex timer_mu_;
  std::condition_variable timer_cv_;
  bool timer_stop_ = false;
  std::thread tree_head_thread_;
  GatewayMetrics metrics_;
  // Last: stopped before anything its gauges read is destroyed.
  std::unique_ptr<MetricsHttpServer> metrics_http_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<GatewayServer>> GatewayServer::Start(const v1::GatewayConfig& config,
                                                                    std::shared_ptr<const Clock> clock,
                                                                    GatewayServerOptions options) {
  // Debian's abseil is built with lock-order cycle detection on: every
  // absl::Mutex gRPC takes per call is recorded in a global graph (1-2 % of a
  // gRPC thread's time, measured with perf). Release builds of abseil leave it
  // off, and CaseLink's own code does not use absl::Mutex.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  auto server = std::make_unique<GatewayServerImpl>();
  if (auto st = server->Init(config, std::move(clock), options); !st.ok()) return st;
  return server;
}

}  // namespace caselink
