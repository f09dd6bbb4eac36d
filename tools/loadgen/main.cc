// caselink-loadgen: measures how many signed handoffs per second a CaseLink
// gateway accepts, with what latency and at what CPU and memory cost, next to
// the crypto ceiling of the same machine measured in the same run.
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "adapters/store/sqlite_store.h"
#include "caselink/v1/services.grpc.pb.h"
#include "gateway/config.h"
#include "gateway/gateway_server.h"
#include "gateway/metrics.h"
#include "gateway/metrics_http.h"
#include "security/certificate.h"
#include "tools/client/agency_client.h"
#include "tools/devpki/dev_pki.h"
#include "tools/loadgen/crypto_ceiling.h"
#include "tools/loadgen/disk_probe.h"
#include "tools/loadgen/driver.h"
#include "tools/loadgen/process_stats.h"
#include "tools/loadgen/produce_baseline.h"
#include "tools/loadgen/workload.h"

namespace caselink::loadgen {
namespace {

using nlohmann::json;

constexpr char kUsage[] = R"(usage:
  caselink-loadgen --embedded-gateway [options]
  caselink-loadgen --target HOST:PORT --pki DIR [--gateway-pid PID] [options]
  caselink-loadgen --median RESULT.json... [--json | --figure NAME]

Sends pre-signed envelopes over mTLS (CaseService.Submit, or SubmitStream with
--api stream) and reports throughput,
latency (p50/p90/p99/p99.9), errors by status code, the gateway's CPU time and
peak RSS, and the ratio to this machine's ECDSA P-256 crypto ceiling (one verify
plus one sign per handoff, on every core), measured right before the run.

where the gateway is:
  --embedded-gateway      start a gateway in this process on 127.0.0.1:0 with a
                          new dev PKI and data dir under the temp dir (removed
                          afterwards); CPU and RSS are then the whole process's,
                          load generator included
  --target HOST:PORT      a running gateway, e.g. 127.0.0.1:7443
  --pki DIR               its dev PKI (`caselinkctl pki init --dir DIR`)
  --gateway-pid PID       charge CPU and RSS to this process (external gateway);
                          its peak RSS is reset before the run when allowed
  --gateway-metrics HOST:PORT
                          the gateway's metrics_address (external gateway): read
                          how long the gateway itself held the run's envelopes
                          from its /metrics before and after the run (embedded:
                          always, on a port of its own)
  --region CODE           agencies CODE.epb and CODE.psb (default 510100)

what is sent:
  --workload KIND         transfer: every request a transfer opening a new case
                          (default); mixed: per case a transfer by the EPB, then
                          a receipt and a filing by the PSB
  --envelope-bytes N      serialized envelope size, padded in remarks (default 1024)
  --random-envelope-ids   random envelope ids (128 bits) instead of the time-ordered
                          ones CaseLink's client makes; a random id costs the
                          gateway's id index a page of its own per commit
  --requests N            envelopes to pre-sign; default: the open-loop rate times
                          the duration, or (closed loop) 2.5 times what a warm-up
                          run suggests, at most --max-requests
  --max-requests N        default 400000
  --warmup-requests N     sent before the measured run (default 2000; 0: none)

how it is sent:
  --duration SECONDS      how long to send (default 20, at most 240: envelopes are
                          signed before the run and the gateway accepts created_at
                          within its time window, 300 s by default)
  --rate N                open loop: N requests/s on a fixed schedule, latency
                          from the scheduled send time; default: closed loop
  --concurrency N         closed loop: requests in flight (default 64)
  --connections N         TCP connections per sending agency (default 2)
  --timeout SECONDS       per-call deadline (default 10); stream: the stream's
                          deadline is the duration plus this
  --api API               unary: one Submit call per envelope (default); stream:
                          one SubmitStream call per connection, opened before the
                          run, envelopes queued while a write is in flight go out
                          together in the next message
  --stream-batch N        stream: at most N envelopes per message (default 64)

embedded gateway only:
  --max-batch N           store group-commit size (default: the gateway's, 256)
  --synchronous MODE      full (default, durable) or normal (not durable)
  --keep-data             keep the temp dir and print where it is
  --kafka BOOTSTRAP       Kafka mode: the gateway relays every delivery to the
                          brokers at BOOTSTRAP (PLAINTEXT, acks=all, idempotence)
                          under a new topic prefix per run; reports the raw
                          librdkafka produce rate of the same record size to the
                          same broker measured right before the run, the ratio
                          to it, and how long the relay took to drain the outbox
  --kafka-partitions N    partitions of the run's topics (default 3)
  --drain-timeout SECONDS how long to wait for the outbox to drain (default 180)

the disk, a same-run baseline for latency:
  --disk-probe-dir DIR    a directory on the store's filesystem where a probe
                          writes 4 KiB and fdatasyncs it every 5 ms during the
                          run (default with --embedded-gateway: the gateway's
                          data dir; otherwise no probe). Reports how long the
                          disk held the syncs up and, in open loop, the p99
                          floor those stalls put under the schedule for any
                          store that answers only after a sync
  --disk-baseline SECONDS the same probe alone, for this long before the run
  --disk-probe            probe in closed loop too (by default only open loop
                          probes: each probe sync flushes the disk's cache, and
                          at full load that costs the store's writer rate)
  --no-disk-probe         no probe

output:
  --json                  one JSON object on stdout instead of the report
  --no-ceiling            skip the crypto ceiling

--median summarises results written with --json: median, min and max of
throughput, ratio to the ceiling, latency percentiles, errors, gateway CPU and
peak RSS, and the disk's stalls and p99 floor; --figure NAME prints only the
median of that figure (e.g. throughput_per_second), for scripts.
)";

const char* const kCodeNames[17] = {"OK",
                                    "CANCELLED",
                                    "UNKNOWN",
                                    "INVALID_ARGUMENT",
                                    "DEADLINE_EXCEEDED",
                                    "NOT_FOUND",
                                    "ALREADY_EXISTS",
                                    "PERMISSION_DENIED",
                                    "RESOURCE_EXHAUSTED",
                                    "FAILED_PRECONDITION",
                                    "ABORTED",
                                    "OUT_OF_RANGE",
                                    "UNIMPLEMENTED",
                                    "INTERNAL",
                                    "UNAVAILABLE",
                                    "DATA_LOSS",
                                    "UNAUTHENTICATED"};

// The disk probe's samples are judged against the embedded half-rate latency
// target: a sync that takes longer is a stall, and the floor is for the p99.
constexpr double kDiskStallThresholdMs = 10;
constexpr double kDiskFloorQuantile = 0.99;
constexpr absl::Duration kDiskProbeInterval = absl::Milliseconds(5);
constexpr size_t kDiskProbeWriteBytes = 4096;

// Envelopes are signed before the run; the whole run must fit in the
// gateway's created_at window with room for the signing itself.
constexpr int kMaxDurationSeconds = 240;

struct Options {
  bool embedded = false;
  std::string target;
  std::string pki;
  int gateway_pid = 0;
  std::string gateway_metrics;
  std::string region = "510100";
  WorkloadKind workload = WorkloadKind::kTransfers;
  size_t envelope_bytes = 1024;
  size_t requests = 0;
  size_t max_requests = 400000;
  size_t warmup_requests = 2000;
  double duration_seconds = 20;
  double rate = 0;
  int concurrency = 64;
  int connections = 2;
  double timeout_seconds = 10;
  DriverApi api = DriverApi::kUnary;
  int stream_batch = 64;
  uint32_t max_batch = 0;
  std::string synchronous;
  bool keep_data = false;
  bool random_envelope_ids = false;
  std::string kafka;
  int kafka_partitions = 3;
  double drain_timeout_seconds = 180;
  bool json = false;
  bool ceiling = true;
  // Unset: on in open loop, off in closed loop (settled at the end of ParseOptions).
  std::optional<bool> disk_probe;
  std::string disk_probe_dir;
  double disk_baseline_seconds = 0;
  std::vector<std::string> median_files;
  std::string figure;  // --median: print only this figure's median
};

void Progress(const std::string& line) { std::fprintf(stderr, "caselink-loadgen: %s\n", line.c_str()); }

int Fail(const absl::Status& status) {
  std::fprintf(stderr, "caselink-loadgen: %s\n", status.ToString().c_str());
  return 1;
}

absl::StatusOr<Options> ParseOptions(int argc, char** argv) {
  Options o;
  std::vector<std::string> args(argv + 1, argv + argc);
  bool median = false;
  for (size_t i = 0; i < args.size(); ++i) {
    std::string name = args[i];
    std::string value;
    bool has_value = false;
    if (const size_t eq = name.find('='); name.rfind("--", 0) == 0 && eq != std::string::npos) {
      value = name.substr(eq + 1);
      name = name.substr(0, eq);
      has_value = true;
    }
    auto take = [&]() -> absl::StatusOr<std::string> {
      if (has_value) return value;
      if (i + 1 >= args.size()) return absl::InvalidArgumentError(absl::StrCat(name, " needs a value"));
      return args[++i];
    };
    auto number = [&](auto& out) -> absl::Status {
      absl::StatusOr<std::string> text = take();
      if (!text.ok()) return text.status();
      bool ok;
      if constexpr (std::is_same_v<std::decay_t<decltype(out)>, double>) {
        ok = absl::SimpleAtod(*text, &out) && out >= 0;
      } else if constexpr (std::is_same_v<std::decay_t<decltype(out)>, size_t>) {
        uint64_t v = 0;
        ok = absl::SimpleAtoi(*text, &v);
        out = static_cast<size_t>(v);
      } else {
        ok = absl::SimpleAtoi(*text, &out) && out >= 0;
      }
      if (!ok) return absl::InvalidArgumentError(absl::StrCat(name, " takes a non-negative number, not '", *text, "'"));
      return absl::OkStatus();
    };
    auto text = [&](std::string& out) -> absl::Status {
      absl::StatusOr<std::string> v = take();
      if (!v.ok()) return v.status();
      out = *v;
      return absl::OkStatus();
    };
    absl::Status s;
    if (median) {
      if (name == "--json") {
        o.json = true;
      } else if (name == "--figure") {
        if (absl::Status f = text(o.figure); !f.ok()) return f;
      } else {
        o.median_files.push_back(args[i]);
      }
      continue;
    }
    if (name == "--help" || name == "-h") {
      std::fputs(kUsage, stdout);
      std::exit(0);
    } else if (name == "--median") {
      median = true;
    } else if (name == "--embedded-gateway") {
      o.embedded = true;
    } else if (name == "--target") {
      s = text(o.target);
    } else if (name == "--pki") {
      s = text(o.pki);
    } else if (name == "--gateway-pid") {
      s = number(o.gateway_pid);
    } else if (name == "--gateway-metrics") {
      s = text(o.gateway_metrics);
    } else if (name == "--region") {
      s = text(o.region);
    } else if (name == "--workload") {
      std::string kind;
      s = text(kind);
      if (s.ok() && kind == "transfer") {
        o.workload = WorkloadKind::kTransfers;
      } else if (s.ok() && kind == "mixed") {
        o.workload = WorkloadKind::kMixed;
      } else if (s.ok()) {
        s = absl::InvalidArgumentError(absl::StrCat("--workload is transfer or mixed, not '", kind, "'"));
      }
    } else if (name == "--envelope-bytes") {
      s = number(o.envelope_bytes);
    } else if (name == "--requests") {
      s = number(o.requests);
    } else if (name == "--max-requests") {
      s = number(o.max_requests);
    } else if (name == "--warmup-requests") {
      s = number(o.warmup_requests);
    } else if (name == "--duration") {
      s = number(o.duration_seconds);
    } else if (name == "--rate") {
      s = number(o.rate);
    } else if (name == "--concurrency") {
      s = number(o.concurrency);
    } else if (name == "--connections") {
      s = number(o.connections);
    } else if (name == "--timeout") {
      s = number(o.timeout_seconds);
    } else if (name == "--api") {
      std::string api;
      s = text(api);
      if (s.ok() && api == "unary") {
        o.api = DriverApi::kUnary;
      } else if (s.ok() && api == "stream") {
        o.api = DriverApi::kStream;
      } else if (s.ok()) {
        s = absl::InvalidArgumentError(absl::StrCat("--api is unary or stream, not '", api, "'"));
      }
    } else if (name == "--stream-batch") {
      s = number(o.stream_batch);
    } else if (name == "--max-batch") {
      s = number(o.max_batch);
    } else if (name == "--synchronous") {
      s = text(o.synchronous);
      if (s.ok() && o.synchronous != "full" && o.synchronous != "normal") {
        s = absl::InvalidArgumentError("--synchronous is full or normal");
      }
    } else if (name == "--kafka") {
      s = text(o.kafka);
    } else if (name == "--kafka-partitions") {
      s = number(o.kafka_partitions);
    } else if (name == "--drain-timeout") {
      s = number(o.drain_timeout_seconds);
    } else if (name == "--keep-data") {
      o.keep_data = true;
    } else if (name == "--random-envelope-ids") {
      o.random_envelope_ids = true;
    } else if (name == "--json") {
      o.json = true;
    } else if (name == "--no-ceiling") {
      o.ceiling = false;
    } else if (name == "--disk-probe-dir") {
      s = text(o.disk_probe_dir);
    } else if (name == "--disk-baseline") {
      s = number(o.disk_baseline_seconds);
    } else if (name == "--disk-probe") {
      o.disk_probe = true;
    } else if (name == "--no-disk-probe") {
      o.disk_probe = false;
    } else {
      s = absl::InvalidArgumentError(absl::StrCat("unknown argument '", args[i], "' (see --help)"));
    }
    if (!s.ok()) return s;
  }
  if (median) {
    if (o.median_files.empty()) return absl::InvalidArgumentError("--median needs result files (from --json)");
    return o;
  }
  if (o.embedded == !o.target.empty()) {
    return absl::InvalidArgumentError("say where the gateway is: --embedded-gateway, or --target HOST:PORT with --pki DIR");
  }
  if (!o.embedded && o.pki.empty()) return absl::InvalidArgumentError("--target needs --pki DIR, the gateway's dev PKI");
  if (o.embedded && o.gateway_pid != 0) return absl::InvalidArgumentError("--gateway-pid is for an external gateway");
  if (o.embedded && !o.gateway_metrics.empty()) {
    return absl::InvalidArgumentError("--gateway-metrics is for an external gateway; an embedded one is always read");
  }
  if (!o.embedded && (o.max_batch != 0 || !o.synchronous.empty() || o.keep_data || !o.kafka.empty())) {
    return absl::InvalidArgumentError("--max-batch, --synchronous, --keep-data and --kafka apply to --embedded-gateway only");
  }
  if (o.duration_seconds <= 0 || o.duration_seconds > kMaxDurationSeconds) {
    return absl::InvalidArgumentError(absl::StrCat("--duration must be in (0, ", kMaxDurationSeconds,
                                                   "] s: envelopes are signed before the run and must still be within "
                                                   "the gateway's created_at window when they are sent"));
  }
  if (o.concurrency < 1 || o.connections < 1) return absl::InvalidArgumentError("--concurrency and --connections must be >= 1");
  if (o.stream_batch < 1) return absl::InvalidArgumentError("--stream-batch must be >= 1");
  if (o.envelope_bytes > 512 * 1024) return absl::InvalidArgumentError("--envelope-bytes is at most 524288");
  if (o.timeout_seconds <= 0) return absl::InvalidArgumentError("--timeout must be > 0");
  if (o.kafka_partitions < 1) return absl::InvalidArgumentError("--kafka-partitions must be >= 1");
  if (o.disk_baseline_seconds < 0 || o.disk_baseline_seconds > 600) {
    return absl::InvalidArgumentError("--disk-baseline is a number of seconds from 0 to 600");
  }
  if (o.disk_probe == false && (!o.disk_probe_dir.empty() || o.disk_baseline_seconds > 0)) {
    return absl::InvalidArgumentError("--no-disk-probe goes with neither --disk-probe-dir nor --disk-baseline");
  }
  // The probe's syncs flush the device's cache too: at full load, where the
  // store's writer spends its time in syncs of its own, they lowered the rate
  // by about 6 % (six alternating pairs), while in open loop the p99 did not
  // move. So a closed loop runs without it unless asked.
  if (o.disk_probe == true && !o.embedded && o.disk_probe_dir.empty()) {
    return absl::InvalidArgumentError(
        "--disk-probe with an external gateway needs --disk-probe-dir DIR on the gateway's filesystem");
  }
  if (!o.disk_probe.has_value()) {
    o.disk_probe = o.rate > 0 || !o.disk_probe_dir.empty() || o.disk_baseline_seconds > 0;
  }
  if (!o.embedded && o.disk_baseline_seconds > 0 && o.disk_probe_dir.empty()) {
    return absl::InvalidArgumentError("--disk-baseline needs --disk-probe-dir DIR with an external gateway");
  }
  return o;
}

std::string RunTag() {
  std::random_device rd;
  return absl::StrFormat("%06x", rd() & 0xffffff);
}

// A gateway in this process, on loopback, with its own dev PKI and data dir.
struct EmbeddedGateway {
  std::string dir;
  std::string topic_prefix;  // Kafka mode: this run's topics start with it
  std::unique_ptr<GatewayServer> server;
  bool keep = false;

  ~EmbeddedGateway() {
    if (server) server->Shutdown(absl::Seconds(2));
    server.reset();
    if (!dir.empty() && !keep) {
      std::error_code ec;
      std::filesystem::remove_all(dir, ec);
    }
  }
};

absl::Status StartEmbedded(const Options& o, EmbeddedGateway& gateway, std::string& pki, std::string& target) {
  std::string pattern = (std::filesystem::temp_directory_path() / "caselink-loadgen-XXXXXX").string();
  if (mkdtemp(pattern.data()) == nullptr) return absl::UnavailableError("cannot create a directory under the temp dir");
  gateway.dir = pattern;
  gateway.keep = o.keep_data;
  DevPkiOptions pki_options;
  pki_options.dir = gateway.dir + "/pki";
  pki_options.region = o.region;
  pki_options.listen_address = "127.0.0.1:0";
  pki_options.data_dir = gateway.dir + "/data";
  if (absl::Status s = InitDevPki(pki_options); !s.ok()) return s;
  absl::StatusOr<v1::GatewayConfig> config = LoadGatewayConfig(pki_options.dir + "/gateway.yaml");
  if (!config.ok()) return config.status();
  if (o.max_batch != 0) config->mutable_store()->set_max_batch(o.max_batch);
  if (!o.synchronous.empty()) config->mutable_store()->set_synchronous(o.synchronous);
  // Its /metrics tell how long the gateway itself held each envelope.
  config->set_metrics_address("127.0.0.1:0");
  if (!o.kafka.empty()) {
    // A fresh prefix per run: the topics start empty, so their offsets count this run's records.
    gateway.topic_prefix = absl::StrCat("loadgen-", absl::ToUnixSeconds(absl::Now()), "-", RunTag());
    v1::KafkaConfig* kafka = config->mutable_kafka();
    kafka->set_bootstrap_servers(o.kafka);
    kafka->set_topic_prefix(gateway.topic_prefix);
    kafka->set_partitions(static_cast<uint32_t>(o.kafka_partitions));
    kafka->set_replication_factor(1);
  }
  absl::StatusOr<std::unique_ptr<GatewayServer>> server = GatewayServer::Start(*config);
  if (!server.ok()) return server.status();
  gateway.server = *std::move(server);
  pki = pki_options.dir;
  target = absl::StrCat("127.0.0.1:", gateway.server->port());
  return absl::OkStatus();
}

// The gateway's own submission latency histogram, from its /metrics.
absl::StatusOr<LatencyHistogram::Snapshot> ReadHeldLatency(const std::string& metrics_address) {
  absl::StatusOr<std::string> text = HttpGet(metrics_address, "/metrics");
  if (!text.ok()) {
    return absl::UnavailableError(absl::StrCat("the gateway's metrics at ", metrics_address, ": ", text.status().message()));
  }
  LatencyHistogram::Snapshot snapshot;
  if (absl::Status s = ParsePrometheusHistogram(*text, "caselink_submission_duration_seconds", snapshot); !s.ok()) {
    return absl::Status(s.code(), absl::StrCat("the gateway's metrics at ", metrics_address, ": ", s.message()));
  }
  return snapshot;
}

// Bucket upper bounds: the histogram says "at most", never a made-up value inside a bucket.
json HeldLatencyJson(const LatencyHistogram::Snapshot& run) {
  auto bound_ms = [&run](double q) -> json {
    const int64_t micros = run.QuantileUpperBoundMicros(q);
    if (micros < 0) return nullptr;
    if (micros == std::numeric_limits<int64_t>::max()) return "over the largest bucket";
    return static_cast<double>(micros) / 1000;
  };
  const uint64_t n = run.count();
  return {{"count", n},
          {"mean_ms", n > 0 ? static_cast<double>(run.sum_micros) / 1000 / static_cast<double>(n) : 0},
          {"p50_at_most_ms", bound_ms(0.5)},
          {"p90_at_most_ms", bound_ms(0.9)},
          {"p99_at_most_ms", bound_ms(0.99)},
          {"p99_9_at_most_ms", bound_ms(0.999)}};
}

// The embedded gateway's store writer, to account for its time; empty when the
// store is not SQLite's as opened.
std::optional<SqliteStore::WriterActivity> StoreWriterActivity(const EmbeddedGateway& gateway) {
  if (!gateway.server) return std::nullopt;
  const auto* sqlite = dynamic_cast<const SqliteStore*>(&gateway.server->store());
  if (sqlite == nullptr) return std::nullopt;
  return sqlite->Activity();
}

json WriterActivityJson(const SqliteStore::WriterActivity& before, const SqliteStore::WriterActivity& after,
                        double wall_seconds, uint64_t ok) {
  const uint64_t commits = after.commits - before.commits;
  const uint64_t tails = after.tails - before.tails;
  const double group_us = static_cast<double>(after.group_micros - before.group_micros);
  const double tail_us = static_cast<double>(after.tail_micros - before.tail_micros);
  const double wall_us = std::max(wall_seconds * 1e6, 1.0);
  return {{"commits", commits},
          {"handoffs_per_commit", commits > 0 ? static_cast<double>(ok) / commits : 0},
          {"group_share", group_us / wall_us},
          {"tails", tails},
          {"tail_share", tail_us / wall_us},
          {"tail_ms_mean", tails > 0 ? tail_us / 1000 / tails : 0},
          {"slow_groups", after.slow_groups - before.slow_groups},
          {"slow_group_ms", static_cast<double>(after.slow_group_micros - before.slow_group_micros) / 1000},
          {"slow_tails", after.slow_tails - before.slow_tails},
          {"slow_tail_ms", static_cast<double>(after.slow_tail_micros - before.slow_tail_micros) / 1000},
          {"slow_ms", SqliteStore::WriterActivity::kSlowMicros / 1000.0},
          {"background_rounds", after.background_rounds - before.background_rounds}};
}

// The gateway's outbox backlog: deliveries not yet acknowledged by Kafka.
absl::StatusOr<uint64_t> BusBacklog(v1::GatewayService::Stub& stub) {
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  v1::GatewayInfo info;
  const grpc::Status status = stub.GetGatewayInfo(&context, v1::GetGatewayInfoRequest(), &info);
  if (!status.ok()) return absl::UnavailableError(absl::StrCat("GetGatewayInfo: ", status.error_message()));
  if (!info.bus_enabled()) return absl::FailedPreconditionError("the gateway says it relays to no bus");
  return info.bus_backlog();
}

// Polls the backlog until it is 0; returns the seconds that took.
absl::StatusOr<double> WaitForDrain(v1::GatewayService::Stub& stub, absl::Duration timeout) {
  const absl::Time start = absl::Now();
  while (true) {
    absl::StatusOr<uint64_t> backlog = BusBacklog(stub);
    if (!backlog.ok()) return backlog.status();
    if (*backlog == 0) return absl::ToDoubleSeconds(absl::Now() - start);
    if (absl::Now() - start > timeout) {
      return absl::DeadlineExceededError(absl::StrCat(*backlog, " deliveries still not on Kafka after ",
                                                      absl::FormatDuration(timeout), " (see --drain-timeout)"));
    }
    absl::SleepFor(absl::Milliseconds(20));
  }
}

// The threads that used the most CPU during the run, in cores (user and
// system), so a saturated single thread shows even when the process is not.
// What thread `tid` did between two readings; one that started meanwhile counts from zero.
ThreadCpu Since(const std::map<int, ThreadCpu>& before, int tid, const ThreadCpu& end) {
  auto start = before.find(tid);
  if (start == before.end()) return end;
  ThreadCpu d = end;
  d.user_seconds -= start->second.user_seconds;
  d.system_seconds -= start->second.system_seconds;
  d.voluntary_switches -= start->second.voluntary_switches;
  d.involuntary_switches -= start->second.involuntary_switches;
  // Both ends or none: a wait since the thread started is not the run's.
  if (d.cpu_wait_seconds && start->second.cpu_wait_seconds) {
    *d.cpu_wait_seconds -= *start->second.cpu_wait_seconds;
  } else {
    d.cpu_wait_seconds.reset();
  }
  return d;
}

json BusiestThreads(const std::map<int, ThreadCpu>& before, const std::map<int, ThreadCpu>& after, double seconds) {
  struct Use {
    int tid;
    std::string name;
    double user;
    double system;
    int nice;
    uint64_t voluntary;
    uint64_t involuntary;
    std::optional<double> waiting;
  };
  std::vector<Use> uses;
  if (seconds <= 0) return json::array();
  for (const auto& [tid, end] : after) {
    const ThreadCpu d = Since(before, tid, end);
    if (d.user_seconds + d.system_seconds > 0) {
      std::optional<double> waiting;
      if (d.cpu_wait_seconds) waiting = *d.cpu_wait_seconds / seconds;
      uses.push_back({tid, end.name, d.user_seconds / seconds, d.system_seconds / seconds, end.nice,
                      d.voluntary_switches, d.involuntary_switches, waiting});
    }
  }
  std::sort(uses.begin(), uses.end(), [](const Use& a, const Use& b) { return a.user + a.system > b.user + b.system; });
  json out = json::array();
  for (size_t i = 0; i < uses.size() && i < 5; ++i) {
    json thread = {{"tid", uses[i].tid},
                   {"name", uses[i].name},
                   {"user_cores", uses[i].user},
                   {"system_cores", uses[i].system},
                   {"nice", uses[i].nice},
                   {"voluntary_switches", uses[i].voluntary},
                   {"involuntary_switches", uses[i].involuntary}};
    // Seconds spent ready to run but waiting for a CPU, per second of the run.
    if (uses[i].waiting) thread["waiting_for_cpu_cores"] = *uses[i].waiting;
    out.push_back(std::move(thread));
  }
  return out;
}

json LatencyJson(const RunResult& r) {
  return json{{"p50", r.LatencyMs(0.50)},   {"p90", r.LatencyMs(0.90)}, {"p99", r.LatencyMs(0.99)},
              {"p99_9", r.LatencyMs(0.999)}, {"max", r.LatencyMs(1.0)}};
}

// Checks sampled receipts against the gateway's receipt-signing certificate.
std::pair<size_t, size_t> VerifyReceipts(const std::string& pki, const RunResult& r) {
  std::ifstream in(pki + "/gateway/signing.crt");
  std::string pem((std::istreambuf_iterator<char>(in)), {});
  absl::StatusOr<std::unique_ptr<security::Certificate>> cert = security::Certificate::FromPem(pem);
  if (!cert.ok()) return {r.receipts.size(), 0};
  absl::StatusOr<std::unique_ptr<security::Verifier>> verifier = (*cert)->PublicKeyVerifier();
  if (!verifier.ok()) return {r.receipts.size(), 0};
  size_t good = 0;
  for (const v1::SignedSubmissionReceipt& receipt : r.receipts) {
    if ((*verifier)->Verify(receipt.signature().value(), receipt.receipt()).ok()) ++good;
  }
  return {r.receipts.size(), good};
}

json DiskStallsJson(const DiskProbeSamples& samples) {
  const DiskStalls d = SummarizeDiskSyncs(samples.sync_ms, samples.seconds, kDiskStallThresholdMs, kDiskFloorQuantile);
  json j{{"syncs", d.syncs},
         {"seconds", samples.seconds},
         {"p50_ms", d.p50_ms},
         {"p99_ms", d.p99_ms},
         {"max_ms", d.max_ms},
         {"stalls", d.stalls},
         {"stall_ms", d.stall_ms},
         {"share_beyond_threshold", d.share_beyond_threshold},
         {"p99_floor_ms", d.latency_floor_ms}};
  if (!samples.error.ok()) j["error"] = samples.error.ToString();
  return j;
}

void PrintDiskStalls(const char* label, const std::string& when, const json& disk, const json& s, bool floor) {
  std::printf("%-12s%s-byte fdatasync every %.0f ms %s: %llu syncs, p50 %.2f  p99 %.2f  max %.1f ms; "
              "%llu over %.0f ms (%.0f ms in all)\n",
              label, disk["write_bytes"].dump().c_str(), disk["interval_ms"].get<double>(), when.c_str(),
              s["syncs"].get<unsigned long long>(), s["p50_ms"].get<double>(), s["p99_ms"].get<double>(),
              s["max_ms"].get<double>(), s["stalls"].get<unsigned long long>(), disk["stall_threshold_ms"].get<double>(),
              s["stall_ms"].get<double>());
  if (floor) {
    std::printf("            %.2f%% of an even schedule arrives where no sync finishes within %.0f ms: "
                "p99 floor %.1f ms for any store that answers after a sync\n",
                100 * s["share_beyond_threshold"].get<double>(), disk["stall_threshold_ms"].get<double>(),
                s["p99_floor_ms"].get<double>());
  }
  if (s.contains("error")) std::printf("            (the probe stopped early: %s)\n", s["error"].get<std::string>().c_str());
}

void PrintReport(const json& j) {
  const json& run = j["run"];
  const json& gw = j["gateway"];
  std::printf("CaseLink load run: %s gateway, %s workload, %s, %s\n", j["mode"].get<std::string>().c_str(),
              j["workload"].get<std::string>().c_str(),
              j["api"] == "stream"
                  ? absl::StrFormat("SubmitStream (up to %d envelopes per message)", j["stream_batch"].get<int>()).c_str()
                  : "unary Submit",
              j["loop"] == "open"
                  ? absl::StrFormat("open loop at %.0f/s", j["rate"].get<double>()).c_str()
                  : absl::StrFormat("closed loop, %d in flight", j["concurrency"].get<int>()).c_str());
  std::printf("machine:    %d CPUs (%s), %.1f GiB memory\n", j["machine"]["cpus"].get<int>(),
              j["machine"]["cpu_model"].get<std::string>().c_str(),
              j["machine"]["memory_bytes"].get<double>() / (1 << 30));
  std::printf("envelopes:  %llu pre-signed in %.1f s, %.0f bytes each on average, %s ids, %d connection(s) per agency\n",
              j["envelopes"]["count"].get<unsigned long long>(), j["envelopes"]["presign_seconds"].get<double>(),
              j["envelopes"]["mean_bytes"].get<double>(), j["envelope_ids"].get<std::string>().c_str(),
              j["connections"].get<int>());
  if (j.contains("ceiling")) {
    const json& c = j["ceiling"];
    std::printf("ceiling:    ECDSA P-256 sign %.0f/s, verify %.0f/s per core -> %d cores: %.0f handoffs/s\n",
                c["sign_per_cpu_second"].get<double>(), c["verify_per_cpu_second"].get<double>(),
                c["cores"].get<int>(), c["handoffs_per_second"].get<double>());
  }
  if (j.contains("kafka")) {
    const json& k = j["kafka"];
    std::printf("kafka:      %s, topics %s.*, %d partitions; raw produce baseline %.0f records/s of %llu bytes "
                "(acks=all, idempotence, %llu records in %.1f s)\n",
                k["bootstrap_servers"].get<std::string>().c_str(), k["topic_prefix"].get<std::string>().c_str(),
                k["partitions"].get<int>(), k["produce_baseline"]["records_per_second"].get<double>(),
                k["produce_baseline"]["record_bytes"].get<unsigned long long>(),
                k["produce_baseline"]["records"].get<unsigned long long>(), k["produce_baseline"]["seconds"].get<double>());
  }
  std::printf("run:        %.2f s, %llu sent, %llu OK: %.0f handoffs/s", run["wall_seconds"].get<double>(),
              run["sent"].get<unsigned long long>(), run["ok"].get<unsigned long long>(),
              run["throughput_per_second"].get<double>());
  if (run.contains("ratio_to_ceiling")) std::printf(" = %.3f x the crypto ceiling", run["ratio_to_ceiling"].get<double>());
  if (run.contains("ratio_to_produce_baseline")) {
    std::printf(", %.3f x the raw produce rate", run["ratio_to_produce_baseline"].get<double>());
  }
  std::printf("\n");
  std::printf("            machine load average (1 min) %.2f at the start, %.2f at the end, on %d CPUs\n",
              run["load_average_1m"]["start"].get<double>(), run["load_average_1m"]["end"].get<double>(),
              j["machine"]["cpus"].get<int>());
  if (run["ran_out_of_requests"].get<bool>()) {
    std::printf("            (every pre-signed envelope was sent before the time was up; pass a larger --requests)\n");
  }
  const json& l = run["latency_ms"];
  std::printf("latency:    p50 %.2f  p90 %.2f  p99 %.2f  p99.9 %.2f  max %.2f ms (OK answers%s)\n",
              l["p50"].get<double>(), l["p90"].get<double>(), l["p99"].get<double>(), l["p99_9"].get<double>(),
              l["max"].get<double>(), j["loop"] == "open" ? ", from the scheduled send time" : "");
  if (run["errors"].empty()) {
    std::printf("errors:     none\n");
  } else {
    for (const auto& [code, count] : run["errors"].items()) {
      std::printf("errors:     %s x %llu (first: %s)\n", code.c_str(), count.get<unsigned long long>(),
                  run["error_messages"].value(code, "").c_str());
    }
  }
  if (run.contains("stream")) {
    const json& st = run["stream"];
    std::printf("stream:     %llu envelopes in %llu messages (%.1f per message), answers in %llu (%.1f per message), "
                "%llu stray answers, %llu failed stream(s)%s\n",
                st["envelopes_written"].get<unsigned long long>(), st["request_messages"].get<unsigned long long>(),
                st["envelopes_per_message"].get<double>(), st["answer_messages"].get<unsigned long long>(),
                st["answers_per_message"].get<double>(), st["stray_answers"].get<unsigned long long>(),
                st["failed_streams"].get<unsigned long long>(),
                st.contains("first_failure") ? absl::StrCat(" (first: ", st["first_failure"].get<std::string>(), ")").c_str()
                                             : "");
  }
  if (run["duplicates"].get<uint64_t>() > 0 || run["bad_receipts"].get<uint64_t>() > 0) {
    std::printf("anomalies:  %llu duplicate answers, %llu OK answers without a signed receipt\n",
                run["duplicates"].get<unsigned long long>(), run["bad_receipts"].get<unsigned long long>());
  }
  std::printf("gateway:    pid %d%s: CPU %.1f s (%.2f cores, %.0f us per OK handoff), RSS %.0f MiB at start, peak %.0f MiB%s\n",
              gw["pid"].get<int>(), gw["includes_load_generator"].get<bool>() ? " (this process: gateway + load generator)" : "",
              gw["cpu_seconds"].get<double>(), gw["cpu_cores_used"].get<double>(), gw["cpu_us_per_handoff"].get<double>(),
              gw["rss_at_start_bytes"].get<double>() / (1 << 20), gw["peak_rss_bytes"].get<double>() / (1 << 20),
              gw["peak_rss_since_run_start"].get<bool>() ? " during the run" : " since the process started");
  std::string threads;
  for (const json& t : gw["busiest_threads"]) {
    if (t["user_cores"].get<double>() + t["system_cores"].get<double>() < 0.01) continue;
    threads += absl::StrFormat(
        "%s%d %s %.2f (%.0f%% system%s%s)", threads.empty() ? "" : ", ", t["tid"].get<int>(),
        t["name"].get<std::string>(), t["user_cores"].get<double>() + t["system_cores"].get<double>(),
        100 * t["system_cores"].get<double>() / std::max(1e-9, t["user_cores"].get<double>() + t["system_cores"].get<double>()),
        t.value("nice", 0) != 0 ? absl::StrCat(", nice ", t.value("nice", 0)) : "",
        t.contains("waiting_for_cpu_cores")
            ? absl::StrFormat(", waited %.2f for a CPU", t["waiting_for_cpu_cores"].get<double>())
            : "");
  }
  if (!threads.empty()) std::printf("threads:    busiest, in cores: %s\n", threads.c_str());
  if (gw.contains("held_latency")) {
    // The gateway's own view: what of the latency above it held the envelopes for.
    const json& h = gw["held_latency"];
    auto bound = [](const json& v) {
      return v.is_number() ? absl::StrFormat("%.2f", v.get<double>()) : v.is_null() ? std::string("-") : v.get<std::string>();
    };
    std::printf("            held in the gateway (its /metrics, arrival at the pipeline to durable outcome, %llu envelopes): "
                "p50 <= %s  p90 <= %s  p99 <= %s  p99.9 <= %s ms, mean %.2f ms\n",
                h["count"].get<unsigned long long>(), bound(h["p50_at_most_ms"]).c_str(),
                bound(h["p90_at_most_ms"]).c_str(), bound(h["p99_at_most_ms"]).c_str(),
                bound(h["p99_9_at_most_ms"]).c_str(), h["mean_ms"].get<double>());
  }
  if (gw.contains("context_switches_per_handoff")) {
    std::printf("            context switches per OK handoff: %.2f, of them preemptions %.2f\n",
                gw["context_switches_per_handoff"].get<double>(), gw["involuntary_switches_per_handoff"].get<double>());
  }
  if (j.contains("store_writer")) {
    const json& w = j["store_writer"];
    std::printf("writer:     %llu commits (%.1f handoffs each); of the run's time %.0f%% in groups and %.0f%% "
                "copying checkpoint tails (%llu, %.2f ms each); %llu checkpoint rounds on their own thread\n",
                w["commits"].get<unsigned long long>(), w["handoffs_per_commit"].get<double>(),
                100 * w["group_share"].get<double>(), 100 * w["tail_share"].get<double>(),
                w["tails"].get<unsigned long long>(), w["tail_ms_mean"].get<double>(),
                w["background_rounds"].get<unsigned long long>());
    std::printf("            over %.0f ms: %llu groups (%.0f ms in all), %llu tails (%.0f ms in all)\n",
                w["slow_ms"].get<double>(), w["slow_groups"].get<unsigned long long>(), w["slow_group_ms"].get<double>(),
                w["slow_tails"].get<unsigned long long>(), w["slow_tail_ms"].get<double>());
  }
  if (j.contains("client")) {
    std::printf("client:     CPU %.1f s (%.2f cores)\n", j["client"]["cpu_seconds"].get<double>(),
                j["client"]["cpu_cores_used"].get<double>());
  }
  if (j.contains("kafka") && j["kafka"].contains("relay")) {
    const json& r = j["kafka"]["relay"];
    std::printf("relay:      outbox %llu at the end of the run, drained in %.2f s; %llu records published "
                "(%llu inbox, %.2f per handoff) in %.2f s from the run's start: %.0f records/s, %.0f inbox records/s\n",
                r["backlog_at_run_end"].get<unsigned long long>(), r["drain_seconds"].get<double>(),
                r["records_published"].get<unsigned long long>(), r["inbox_records_published"].get<unsigned long long>(),
                r["inbox_records_per_handoff"].get<double>(), r["seconds_to_drained"].get<double>(), r["records_per_second"].get<double>(),
                r["inbox_records_per_second"].get<double>());
  }
  if (j.contains("disk")) {
    const json& d = j["disk"];
    if (d.contains("beside_run")) PrintDiskStalls("disk:", "beside the run", d, d["beside_run"], j["loop"] == "open");
    if (d.contains("alone")) {
      PrintDiskStalls("disk alone:", absl::StrFormat("for %.0f s before the run", d["alone"]["seconds"].get<double>()), d,
                      d["alone"], j["loop"] == "open");
    }
  }
  std::printf("receipts:   %llu of %llu sampled gateway signatures verify\n",
              j["receipts"]["verified"].get<unsigned long long>(), j["receipts"]["checked"].get<unsigned long long>());
}

// A short closed-loop run on its own envelopes: connections, TLS sessions,
// caches and the store reach their steady state, and the rate it reaches
// sizes the measured run.
absl::StatusOr<RunResult> WarmUp(const Options& o, const std::vector<AgencyIdentity>& identities,
                                 const WorkloadDocuments& docs,
                                 const std::vector<std::vector<std::unique_ptr<v1::CaseService::Stub>>>& stubs,
                                 const std::string& tag, DriverOptions driver) {
  WorkloadOptions w;
  w.kind = o.workload;
  w.requests = o.warmup_requests;
  w.envelope_bytes = o.envelope_bytes;
  w.random_envelope_ids = o.random_envelope_ids;
  w.run_tag = tag;
  w.threads = UsableCpuCount();
  absl::StatusOr<Workload> workload = BuildWorkload(w, identities, docs);
  if (!workload.ok()) return workload.status();
  driver.rate = 0;
  driver.duration = absl::Seconds(10);
  driver.sample_receipts = 0;
  return RunLoad(stubs, *workload, driver);
}

int Median(const Options& o) {
  // The figures a load test summarises, by JSON pointer.
  const std::vector<std::pair<std::string, std::string>> fields = {
      {"throughput_per_second", "/run/throughput_per_second"},
      {"ratio_to_ceiling", "/run/ratio_to_ceiling"},
      {"ratio_to_produce_baseline", "/run/ratio_to_produce_baseline"},
      {"produce_baseline_per_second", "/kafka/produce_baseline/records_per_second"},
      {"relay_drain_seconds", "/kafka/relay/drain_seconds"},
      {"relay_backlog_at_run_end", "/kafka/relay/backlog_at_run_end"},
      {"relay_inbox_records_per_second", "/kafka/relay/inbox_records_per_second"},
      {"ceiling_handoffs_per_second", "/ceiling/handoffs_per_second"},
      {"latency_p50_ms", "/run/latency_ms/p50"},
      {"latency_p90_ms", "/run/latency_ms/p90"},
      {"latency_p99_ms", "/run/latency_ms/p99"},
      {"latency_p99_9_ms", "/run/latency_ms/p99_9"},
      // Bucket upper bounds from the gateway's own histogram (see "held in the gateway").
      {"held_p50_at_most_ms", "/gateway/held_latency/p50_at_most_ms"},
      {"held_p99_at_most_ms", "/gateway/held_latency/p99_at_most_ms"},
      {"errors", "/run/error_count"},
      {"gateway_cpu_us_per_handoff", "/gateway/cpu_us_per_handoff"},
      {"gateway_cpu_cores_used", "/gateway/cpu_cores_used"},
      {"gateway_peak_rss_mib", "/gateway/peak_rss_mib"},
      {"gateway_context_switches_per_handoff", "/gateway/context_switches_per_handoff"},
      {"load_average_1m_at_end", "/run/load_average_1m/end"},
      {"stream_envelopes_per_message", "/run/stream/envelopes_per_message"},
      {"stream_answers_per_message", "/run/stream/answers_per_message"},
      {"writer_handoffs_per_commit", "/store_writer/handoffs_per_commit"},
      {"writer_group_share", "/store_writer/group_share"},
      {"writer_tail_share", "/store_writer/tail_share"},
      {"writer_slow_group_ms", "/store_writer/slow_group_ms"},
      {"writer_slow_tail_ms", "/store_writer/slow_tail_ms"},
      {"disk_sync_max_ms", "/disk/beside_run/max_ms"},
      {"disk_stall_ms", "/disk/beside_run/stall_ms"},
      {"disk_p99_floor_ms", "/disk/beside_run/p99_floor_ms"},
  };
  std::map<std::string, std::vector<double>> values;
  for (const std::string& path : o.median_files) {
    std::ifstream in(path);
    json j = json::parse(in, nullptr, /*allow_exceptions=*/false);
    if (j.is_discarded() || !j.is_object()) return Fail(absl::InvalidArgumentError(absl::StrCat(path, " is not a result from --json")));
    for (const auto& [name, pointer] : fields) {
      const json::json_pointer p(pointer);
      if (j.contains(p) && j.at(p).is_number()) values[name].push_back(j.at(p).get<double>());
    }
  }
  json out{{"runs", o.median_files.size()}};
  for (const auto& [name, pointer] : fields) {
    std::vector<double>& v = values[name];
    if (v.empty()) continue;
    std::sort(v.begin(), v.end());
    const double median = v.size() % 2 ? v[v.size() / 2] : (v[v.size() / 2 - 1] + v[v.size() / 2]) / 2;
    out["median"][name] = median;
    out["min"][name] = v.front();
    out["max"][name] = v.back();
  }
  if (!o.figure.empty()) {
    if (!out.contains("median") || !out["median"].contains(o.figure)) {
      return Fail(absl::NotFoundError(absl::StrCat("no figure '", o.figure, "' in the results")));
    }
    std::printf("%.3f\n", out["median"][o.figure].get<double>());
    return 0;
  }
  if (o.json) {
    std::printf("%s\n", out.dump(2).c_str());
    return 0;
  }
  std::printf("%-30s %14s %14s %14s   (%zu runs)\n", "figure", "median", "min", "max", o.median_files.size());
  for (const auto& [name, pointer] : fields) {
    if (!out["median"].contains(name)) continue;
    std::printf("%-30s %14.3f %14.3f %14.3f\n", name.c_str(), out["median"][name].get<double>(),
                out["min"][name].get<double>(), out["max"][name].get<double>());
  }
  return 0;
}

int Main(int argc, char** argv) {
  absl::StatusOr<Options> parsed = ParseOptions(argc, argv);
  if (!parsed.ok()) return Fail(parsed.status());
  const Options& o = *parsed;
  if (!o.median_files.empty()) return Median(o);

  EmbeddedGateway embedded;
  std::string pki = o.pki;
  std::string target = o.target;
  int pid = o.gateway_pid;
  if (o.embedded) {
    Progress("starting an embedded gateway");
    if (absl::Status s = StartEmbedded(o, embedded, pki, target); !s.ok()) return Fail(s);
    pid = getpid();
    if (o.keep_data) Progress(absl::StrCat("data and PKI kept in ", embedded.dir));
  }

  std::vector<std::string> agencies = {o.region + ".epb"};
  if (o.workload == WorkloadKind::kMixed) agencies.push_back(o.region + ".psb");
  std::vector<AgencyIdentity> identities;
  for (const std::string& agency : {o.region + ".epb", o.region + ".psb"}) {
    absl::StatusOr<AgencyIdentity> id = LoadAgencyIdentity(pki, agency);
    if (!id.ok()) return Fail(id.status());
    identities.push_back(*std::move(id));
  }

  // Documents first: the procedure table asks for them, and they are stored once.
  WorkloadDocuments docs;
  {
    absl::StatusOr<std::unique_ptr<AgencyClient>> epb = AgencyClient::Create(identities[0], target);
    absl::StatusOr<std::unique_ptr<AgencyClient>> psb = AgencyClient::Create(identities[1], target);
    if (!epb.ok()) return Fail(epb.status());
    if (!psb.ok()) return Fail(psb.status());
    absl::StatusOr<WorkloadDocuments> uploaded = UploadWorkloadDocuments(**epb, **psb);
    if (!uploaded.ok()) return Fail(uploaded.status());
    docs = *std::move(uploaded);
  }

  std::vector<std::shared_ptr<grpc::Channel>> channels;
  std::vector<std::vector<std::unique_ptr<v1::CaseService::Stub>>> stubs(agencies.size());
  for (size_t a = 0; a < agencies.size(); ++a) {
    for (int c = 0; c < o.connections; ++c) {
      absl::StatusOr<std::shared_ptr<grpc::Channel>> channel =
          ConnectChannel(identities[a], target, static_cast<int>(a * 1000 + c) + 1, absl::Seconds(10));
      if (!channel.ok()) return Fail(channel.status());
      stubs[a].push_back(v1::CaseService::NewStub(*channel));
      channels.push_back(*std::move(channel));
    }
  }

  const int cpus = UsableCpuCount();
  json result;
  result["mode"] = o.embedded ? "embedded" : "external";
  result["target"] = target;
  result["workload"] = o.workload == WorkloadKind::kMixed ? "mixed" : "transfer";
  result["envelope_ids"] = o.random_envelope_ids ? "random" : "time-ordered";
  result["loop"] = o.rate > 0 ? "open" : "closed";
  result["api"] = o.api == DriverApi::kStream ? "stream" : "unary";
  if (o.api == DriverApi::kStream) result["stream_batch"] = o.stream_batch;
  result["rate"] = o.rate;
  result["concurrency"] = o.concurrency;
  result["connections"] = o.connections;
  result["duration_seconds"] = o.duration_seconds;
  result["machine"] = {{"cpus", cpus}, {"cpu_model", CpuModelName()}, {"memory_bytes", MemoryTotalBytes()}};

  // The ceiling is measured while the gateway is idle and before it has
  // anything to do, on the same binary and machine as the run.
  std::optional<CryptoCeiling> ceiling;
  if (o.ceiling) {
    Progress("measuring the crypto ceiling (ECDSA P-256 sign and verify)");
    absl::StatusOr<CryptoCeiling> c = MeasureCryptoCeiling(cpus, o.envelope_bytes);
    if (!c.ok()) return Fail(c.status());
    ceiling = *c;
    result["ceiling"] = {{"sign_per_cpu_second", c->sign_per_cpu_second},
                         {"verify_per_cpu_second", c->verify_per_cpu_second},
                         {"cores", c->cores},
                         {"handoffs_per_second", c->handoffs_per_second}};
  }

  // Kafka mode: the raw produce rate next to which the relay is judged, also
  // while the gateway is idle, to the same broker with the same settings.
  std::optional<ProduceBaseline> produce_baseline;
  std::unique_ptr<v1::GatewayService::Stub> gateway_stub;
  if (!o.kafka.empty()) {
    result["mode"] = "embedded+kafka";
    Progress(absl::StrCat("measuring the raw produce rate to ", o.kafka, " (", o.envelope_bytes,
                          "-byte records, acks=all, idempotence)"));
    ProduceBaselineOptions p;
    p.bootstrap_servers = o.kafka;
    p.topic = embedded.topic_prefix + "-baseline";
    p.partitions = o.kafka_partitions;
    p.record_bytes = o.envelope_bytes;
    absl::StatusOr<ProduceBaseline> b = MeasureProduceBaseline(p);
    if (!b.ok()) return Fail(b.status());
    produce_baseline = *b;
    result["kafka"] = {{"bootstrap_servers", o.kafka},
                       {"topic_prefix", embedded.topic_prefix},
                       {"partitions", o.kafka_partitions},
                       {"produce_baseline",
                        {{"records_per_second", b->records_per_second},
                         {"records", b->records},
                         {"failed", b->failed},
                         {"seconds", b->seconds},
                         {"record_bytes", o.envelope_bytes},
                         {"topic", p.topic}}}};
    gateway_stub = v1::GatewayService::NewStub(channels.front());
  }

  const std::string tag = RunTag();
  DriverOptions driver;
  driver.rate = o.rate;
  driver.concurrency = o.concurrency;
  driver.duration = absl::Seconds(o.duration_seconds);
  driver.call_timeout = absl::Seconds(o.timeout_seconds);
  driver.api = o.api;
  driver.stream_batch = o.stream_batch;

  size_t requests = o.requests;
  if (o.warmup_requests > 0) {
    Progress(absl::StrCat("warming up with ", o.warmup_requests, " requests"));
    absl::StatusOr<RunResult> w = WarmUp(o, identities, docs, stubs, tag + "W", driver);
    if (!w.ok()) return Fail(w.status());
    if (w->ok == 0) {
      auto it = w->first_error_message.begin();
      return Fail(absl::UnavailableError(absl::StrCat(
          "the warm-up got no OK answer",
          it == w->first_error_message.end() ? ""
                                             : absl::StrCat("; first error ", kCodeNames[it->first], ": ", it->second),
          o.api == DriverApi::kStream && w->errors_by_code[grpc::StatusCode::UNIMPLEMENTED] > 0
              ? " (this gateway does not serve CaseService.SubmitStream; --api unary works with it)"
              : "")));
    }
    Progress(absl::StrFormat("warm-up: %.0f OK/s", w->throughput()));
    if (requests == 0 && o.rate == 0) {
      // A short warm-up underestimates (connections and caches are still cold),
      // and a run that runs out of envelopes ends early: size generously.
      requests = static_cast<size_t>(w->throughput() * o.duration_seconds * 2.5) + 3 * o.concurrency;
    }
  }
  if (requests == 0) {
    if (o.rate == 0) return Fail(absl::InvalidArgumentError("a closed loop without warm-up needs --requests"));
    requests = static_cast<size_t>(o.rate * o.duration_seconds) + 1;
  }
  requests = std::min(requests, o.max_requests);

  // The run starts with an empty outbox, so the drain measured after it is the run's own.
  uint64_t records_before = 0;
  uint64_t inbox_before = 0;
  if (gateway_stub) {
    absl::StatusOr<double> drained = WaitForDrain(*gateway_stub, absl::Seconds(o.drain_timeout_seconds));
    if (!drained.ok()) return Fail(drained.status());
    Progress(absl::StrFormat("warm-up deliveries on Kafka after %.1f s more", *drained));
    absl::StatusOr<uint64_t> all = CountTopicRecords(o.kafka, embedded.topic_prefix + ".");
    absl::StatusOr<uint64_t> inbox = CountTopicRecords(o.kafka, embedded.topic_prefix + ".inbox.");
    if (!all.ok()) return Fail(all.status());
    if (!inbox.ok()) return Fail(inbox.status());
    records_before = *all;
    inbox_before = *inbox;
    // The baseline just wrote hundreds of MB of records into the broker's
    // page cache; the kernel writes them back ~30 s later, in the middle of
    // the run, where they would hold up the store's fsyncs on the same disk
    // and charge the baseline's I/O to the gateway's latency. Written back
    // now instead.
    Progress("writing the page cache back to disk (the baseline's broker log)");
    const absl::Time sync_start = absl::Now();
    sync();
    result["kafka"]["page_cache_sync_seconds"] = absl::ToDoubleSeconds(absl::Now() - sync_start);
  }

  // The disk probe: where the store's files are, or where it was told.
  DiskProbeOptions disk;
  disk.interval = kDiskProbeInterval;
  disk.write_bytes = kDiskProbeWriteBytes;
  if (*o.disk_probe) disk.dir = !o.disk_probe_dir.empty() ? o.disk_probe_dir : o.embedded ? embedded.dir + "/data" : "";
  if (!disk.dir.empty()) {
    result["disk"] = {{"dir", disk.dir.string()},
                      {"interval_ms", absl::ToDoubleMilliseconds(disk.interval)},
                      {"write_bytes", disk.write_bytes},
                      {"stall_threshold_ms", kDiskStallThresholdMs}};
  }
  if (!disk.dir.empty() && o.disk_baseline_seconds > 0) {
    Progress(absl::StrFormat("probing the disk alone for %.0f s", o.disk_baseline_seconds));
    absl::StatusOr<std::unique_ptr<DiskProbe>> alone = DiskProbe::Start(disk);
    if (!alone.ok()) return Fail(alone.status());
    absl::SleepFor(absl::Seconds(o.disk_baseline_seconds));
    result["disk"]["alone"] = DiskStallsJson((*alone)->Stop());
  }

  Progress(absl::StrCat("pre-signing ", requests, " envelopes"));
  WorkloadOptions w;
  w.kind = o.workload;
  w.requests = requests;
  w.envelope_bytes = o.envelope_bytes;
  w.random_envelope_ids = o.random_envelope_ids;
  w.run_tag = tag;
  w.threads = cpus;
  const absl::Time presign_start = absl::Now();
  absl::StatusOr<Workload> workload = BuildWorkload(w, identities, docs);
  if (!workload.ok()) return Fail(workload.status());
  const double presign_seconds = absl::ToDoubleSeconds(absl::Now() - presign_start);
  result["envelopes"] = {{"count", workload->submits.size()},
                         {"presign_seconds", presign_seconds},
                         {"mean_bytes", workload->mean_envelope_bytes}};

  // Peak RSS from here on: the kernel's VmHWM restarted at the current RSS.
  const bool peak_reset = pid > 0 && ResetPeakRss(pid).ok();
  absl::StatusOr<ProcessStats> gateway_before = pid > 0 ? ReadProcessStats(pid) : absl::StatusOr<ProcessStats>(ProcessStats{});
  if (!gateway_before.ok()) return Fail(gateway_before.status());
  absl::StatusOr<ProcessStats> client_before = ReadProcessStats(getpid());
  Progress(absl::StrFormat("running for %.0f s", o.duration_seconds));
  const std::map<int, ThreadCpu> threads_before = pid > 0 ? ReadThreadCpu(pid) : std::map<int, ThreadCpu>();
  const double load_before = LoadAverage1m();
  const std::optional<SqliteStore::WriterActivity> writer_before = StoreWriterActivity(embedded);
  const std::string metrics_address =
      o.embedded ? absl::StrCat("127.0.0.1:", embedded.server->metrics_port()) : o.gateway_metrics;
  std::optional<LatencyHistogram::Snapshot> held_before;
  if (!metrics_address.empty()) {
    absl::StatusOr<LatencyHistogram::Snapshot> read = ReadHeldLatency(metrics_address);
    if (!read.ok()) return Fail(read.status());
    held_before = *read;
  }
  std::unique_ptr<DiskProbe> probe;
  if (!disk.dir.empty()) {
    absl::StatusOr<std::unique_ptr<DiskProbe>> started = DiskProbe::Start(disk);
    if (!started.ok()) return Fail(started.status());
    probe = *std::move(started);
  }
  const absl::Time run_start = absl::Now();
  const RunResult r = RunLoad(stubs, *workload, driver);
  if (probe) result["disk"]["beside_run"] = DiskStallsJson(probe->Stop());
  const std::optional<SqliteStore::WriterActivity> writer_after = StoreWriterActivity(embedded);
  const double load_after = LoadAverage1m();
  std::optional<LatencyHistogram::Snapshot> held_run;
  if (held_before) {
    absl::StatusOr<LatencyHistogram::Snapshot> read = ReadHeldLatency(metrics_address);
    if (!read.ok()) return Fail(read.status());
    held_run = read->Minus(*held_before);
  }
  std::optional<uint64_t> backlog_at_end;
  if (gateway_stub) {
    absl::StatusOr<uint64_t> backlog = BusBacklog(*gateway_stub);
    if (!backlog.ok()) return Fail(backlog.status());
    backlog_at_end = *backlog;
  }
  absl::StatusOr<ProcessStats> gateway_after = pid > 0 ? ReadProcessStats(pid) : absl::StatusOr<ProcessStats>(ProcessStats{});
  if (!gateway_after.ok()) return Fail(gateway_after.status());
  absl::StatusOr<ProcessStats> client_after = ReadProcessStats(getpid());
  const std::map<int, ThreadCpu> threads_after = pid > 0 ? ReadThreadCpu(pid) : std::map<int, ThreadCpu>();

  json run{{"wall_seconds", r.wall_seconds},
           {"sent", r.sent},
           {"ok", r.ok},
           {"throughput_per_second", r.throughput()},
           {"ran_out_of_requests", r.ran_out_of_requests},
           {"latency_ms", LatencyJson(r)},
           {"duplicates", r.duplicates},
           {"bad_receipts", r.bad_receipts},
           {"error_count", r.errors()},
           {"errors", json::object()},
           {"error_messages", json::object()},
           {"ok_per_second", r.ok_per_second}};
  run["load_average_1m"] = {{"start", load_before}, {"end", load_after}};
  if (ceiling) run["ratio_to_ceiling"] = r.throughput() / ceiling->handoffs_per_second;
  if (produce_baseline) run["ratio_to_produce_baseline"] = r.throughput() / produce_baseline->records_per_second;
  for (int code = 1; code < 17; ++code) {
    if (r.errors_by_code[code] == 0) continue;
    run["errors"][kCodeNames[code]] = r.errors_by_code[code];
    auto it = r.first_error_message.find(code);
    if (it != r.first_error_message.end()) run["error_messages"][kCodeNames[code]] = it->second;
  }
  if (o.api == DriverApi::kStream) {
    run["stream"] = {{"request_messages", r.stream_messages},
                     {"envelopes_written", r.stream_envelopes_written},
                     {"envelopes_per_message",
                      r.stream_messages > 0 ? static_cast<double>(r.stream_envelopes_written) / r.stream_messages : 0},
                     {"answer_messages", r.stream_answer_messages},
                     {"answers_per_message",
                      r.stream_answer_messages > 0 ? static_cast<double>(r.stream_answers_read) / r.stream_answer_messages : 0},
                     {"stray_answers", r.stray_answers},
                     {"failed_streams", r.failed_streams}};
    if (r.failed_streams > 0) {
      run["stream"]["first_failure"] = absl::StrCat(kCodeNames[std::clamp(r.first_stream_error_code, 0, 16)], ": ",
                                                    r.first_stream_error);
    }
  }
  result["run"] = run;

  const double gateway_cpu = gateway_after->cpu_seconds - gateway_before->cpu_seconds;
  result["gateway"] = {{"pid", pid},
                       {"includes_load_generator", o.embedded},
                       {"cpu_seconds", gateway_cpu},
                       {"cpu_cores_used", r.wall_seconds > 0 ? gateway_cpu / r.wall_seconds : 0},
                       {"cpu_us_per_handoff", r.ok > 0 ? gateway_cpu * 1e6 / r.ok : 0},
                       {"rss_at_start_bytes", gateway_before->rss_bytes},
                       {"peak_rss_bytes", gateway_after->peak_rss_bytes},
                       {"peak_rss_mib", static_cast<double>(gateway_after->peak_rss_bytes) / (1 << 20)},
                       {"peak_rss_since_run_start", peak_reset}};
  result["gateway"]["busiest_threads"] = BusiestThreads(threads_before, threads_after, r.wall_seconds);
  if (held_run) result["gateway"]["held_latency"] = HeldLatencyJson(*held_run);
  if (r.ok > 0 && !threads_after.empty()) {
    // Threads that ended during the run took their counts with them.
    uint64_t voluntary = 0;
    uint64_t involuntary = 0;
    for (const auto& [tid, end] : threads_after) {
      const ThreadCpu d = Since(threads_before, tid, end);
      voluntary += d.voluntary_switches;
      involuntary += d.involuntary_switches;
    }
    result["gateway"]["context_switches_per_handoff"] = static_cast<double>(voluntary + involuntary) / r.ok;
    result["gateway"]["involuntary_switches_per_handoff"] = static_cast<double>(involuntary) / r.ok;
  }
  if (writer_before && writer_after) {
    result["store_writer"] = WriterActivityJson(*writer_before, *writer_after, r.wall_seconds, r.ok);
  }
  if (!o.embedded && client_before.ok() && client_after.ok()) {
    const double client_cpu = client_after->cpu_seconds - client_before->cpu_seconds;
    result["client"] = {{"cpu_seconds", client_cpu},
                        {"cpu_cores_used", r.wall_seconds > 0 ? client_cpu / r.wall_seconds : 0}};
  }
  if (gateway_stub) {
    // After the gateway figures, so the drain does not count as run time or CPU.
    Progress(absl::StrCat("waiting for the relay to drain ", *backlog_at_end, " deliveries to Kafka"));
    absl::StatusOr<double> drained = WaitForDrain(*gateway_stub, absl::Seconds(o.drain_timeout_seconds));
    if (!drained.ok()) return Fail(drained.status());
    const double to_drained = absl::ToDoubleSeconds(absl::Now() - run_start);
    absl::StatusOr<uint64_t> all = CountTopicRecords(o.kafka, embedded.topic_prefix + ".");
    absl::StatusOr<uint64_t> inbox = CountTopicRecords(o.kafka, embedded.topic_prefix + ".inbox.");
    if (!all.ok()) return Fail(all.status());
    if (!inbox.ok()) return Fail(inbox.status());
    const uint64_t records = *all - records_before;
    const uint64_t inbox_records = *inbox - inbox_before;
    result["kafka"]["relay"] = {{"backlog_at_run_end", *backlog_at_end},
                                {"drain_seconds", *drained},
                                {"seconds_to_drained", to_drained},
                                {"records_published", records},
                                {"inbox_records_published", inbox_records},
                                {"records_per_second", to_drained > 0 ? records / to_drained : 0},
                                {"inbox_records_per_second", to_drained > 0 ? inbox_records / to_drained : 0},
                                {"inbox_records_per_handoff", r.ok > 0 ? static_cast<double>(inbox_records) / r.ok : 0}};
  }
  const auto [checked, verified] = VerifyReceipts(pki, r);
  result["receipts"] = {{"checked", checked}, {"verified", verified}};

  if (o.json) {
    std::printf("%s\n", result.dump(2).c_str());
  } else {
    PrintReport(result);
  }
  stubs.clear();
  channels.clear();
  if (checked != verified) {
    Fail(absl::DataLossError(absl::StrCat(checked - verified, " sampled receipt signature(s) did not verify")));
    return 1;
  }
  return r.ok > 0 ? 0 : 1;
}

}  // namespace
}  // namespace caselink::loadgen

int main(int argc, char** argv) { return caselink::loadgen::Main(argc, argv); }
