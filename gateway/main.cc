// caselink-gateway: serves CaseLink's gRPC API until SIGINT or SIGTERM.
#include <csignal>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <string>

#include "absl/strings/str_cat.h"
#include "gateway/config.h"
#include "gateway/gateway_server.h"

namespace {

constexpr char kUsage[] =
    "usage: caselink-gateway --config FILE [--listen HOST:PORT] [--data-dir DIR] [--ready-file FILE]\n"
    "                        [--metrics HOST:PORT] [--metrics-ready-file FILE]\n"
    "\n"
    "Serves the CaseLink gRPC API (mTLS) described by FILE (YAML or JSON, schema\n"
    "caselink.v1.GatewayConfig). Stops gracefully on SIGINT or SIGTERM. On SIGHUP it\n"
    "re-reads FILE and switches to its gateway_signing_key (receipts are signed with\n"
    "the new key from then on; the old one is published as a previous key).\n"
    "\n"
    "  --config FILE      gateway configuration\n"
    "  --listen HOST:PORT override listen_address (port 0 picks a free port)\n"
    "  --data-dir DIR     override data_dir\n"
    "  --ready-file FILE  write the bound port to FILE once serving (for scripts and tests)\n"
    "  --metrics HOST:PORT override metrics_address: Prometheus text at /metrics\n"
    "                     (port 0 picks a free port)\n"
    "  --metrics-ready-file FILE  write the metrics port to FILE once serving\n";

// One JSON object per line, so logs can be shipped and queried as they are.
void Log(const std::string& level, const std::string& message) {
  std::string escaped;
  for (char c : message) {
    if (c == '"' || c == '\\') escaped += '\\';
    if (c == '\n') {
      escaped += "\\n";
      continue;
    }
    escaped += c;
  }
  std::cerr << "{\"time\":\"" << absl::FormatTime(absl::RFC3339_full, absl::Now(), absl::UTCTimeZone()) << "\",\"level\":\""
            << level << "\",\"msg\":\"" << escaped << "\"}" << std::endl;
}

}  // namespace

int main(int argc, char** argv) {
  std::string config_path, ready_file, listen, data_dir, metrics, metrics_ready_file;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      std::cout << kUsage;
      return 0;
    } else if (arg == "--config" && i + 1 < argc) {
      config_path = argv[++i];
    } else if (arg == "--listen" && i + 1 < argc) {
      listen = argv[++i];
    } else if (arg == "--data-dir" && i + 1 < argc) {
      data_dir = argv[++i];
    } else if (arg == "--ready-file" && i + 1 < argc) {
      ready_file = argv[++i];
    } else if (arg == "--metrics" && i + 1 < argc) {
      metrics = argv[++i];
    } else if (arg == "--metrics-ready-file" && i + 1 < argc) {
      metrics_ready_file = argv[++i];
    } else {
      std::cerr << "unknown argument: " << arg << "\n" << kUsage;
      return 2;
    }
  }
  if (config_path.empty()) {
    std::cerr << kUsage;
    return 2;
  }
  // Block the stop signals in every thread; the main thread waits for them.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  auto config = caselink::LoadGatewayConfig(config_path);
  if (!config.ok()) {
    Log("error", std::string(config.status().message()));
    return 1;
  }
  if (!listen.empty()) config->set_listen_address(listen);
  if (!data_dir.empty()) config->set_data_dir(data_dir);
  if (!metrics.empty()) config->set_metrics_address(metrics);
  if (!metrics_ready_file.empty() && config->metrics_address().empty()) {
    Log("error", "--metrics-ready-file needs metrics_address in the config or --metrics HOST:PORT");
    return 2;
  }
  auto server = caselink::GatewayServer::Start(*config);
  if (!server.ok()) {
    Log("error", absl::StrCat("gateway did not start: ", server.status().ToString()));
    return 1;
  }
  Log("info", absl::StrCat("caselink-gateway ", CASELINK_VERSION, " serving on port ", (*server)->port(), ", data in ",
                           config->data_dir()));
  if ((*server)->metrics_port() != 0) {
    const std::string& address = config->metrics_address();
    const std::string host = address.substr(0, address.rfind(':'));
    // An empty host listens on every interface.
    Log("info", absl::StrCat("metrics at http://", host.empty() ? "0.0.0.0" : host, ":", (*server)->metrics_port(),
                             "/metrics"));
  }
  // Written once serving, through a rename, so a reader never sees a partial port.
  auto write_port = [](const std::string& file, int port) {
    if (file.empty()) return;
    std::string tmp = file + ".tmp";
    std::ofstream(tmp) << port << "\n";
    std::rename(tmp.c_str(), file.c_str());
  };
  write_port(metrics_ready_file, (*server)->metrics_port());
  write_port(ready_file, (*server)->port());
  int sig = 0;
  for (;;) {
    sigwait(&stop_signals, &sig);
    if (sig != SIGHUP) break;
    // The operator's rotation path: only the signing keys change; the rest of the
    // config needs a restart.
    auto reloaded = caselink::LoadGatewayConfig(config_path);
    absl::Status st = reloaded.ok() ? (*server)->ReloadSigningKeys(*reloaded) : reloaded.status();
    if (st.ok()) {
      Log("info", absl::StrCat("SIGHUP: receipts are now signed with gateway key ", reloaded->gateway_signing_key().key_id()));
    } else {
      Log("error", absl::StrCat("SIGHUP: signing keys not reloaded, the key in use stays: ", st.ToString()));
    }
  }
  Log("info", absl::StrCat("signal ", sig, " received; shutting down"));
  (*server)->Shutdown();
  Log("info", "stopped");
  return 0;
}
