// Crash safety of the real gateway process: what it acknowledged survives a
// kill -9 and is still delivered after restart.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <thread>

#include <gtest/gtest.h>

#include "tests/support/gateway_process.h"
#include "tests/support/test_gateway.h"
#include "tools/devpki/dev_pki.h"

namespace caselink {
namespace {


TEST(CrashRecoveryTest, TransferAcknowledgedJustBeforeKill9IsDeliveredAfterRestart) {
  const std::string dir = testing::MakeTempDir();
  DevPkiOptions options;
  options.dir = dir + "/pki";
  options.listen_address = "127.0.0.1:0";
  options.data_dir = dir + "/data";
  ASSERT_TRUE(InitDevPki(options).ok());
  const std::string config = options.dir + "/gateway.yaml";
  auto connect = [&](const std::string& agency, int port) {
    auto identity = LoadAgencyIdentity(options.dir, agency);
    EXPECT_TRUE(identity.ok());
    return std::move(*AgencyClient::Create(*identity, "127.0.0.1:" + std::to_string(port)));
  };

  std::vector<std::string> acknowledged;
  for (int round = 0; round < 3; ++round) {
    testing::GatewayProcess gateway(CASELINK_GATEWAY_BINARY, config, dir + "/ready");
    const int port = gateway.WaitForPort();
    ASSERT_GT(port, 0) << "gateway did not start";
    auto epb = connect("510100.epb", port);
    // The transfers reference the documents the procedure requires.
    ASSERT_TRUE(testing::UploadStandardDocuments(*epb).ok());
    for (int i = 0; i < 5; ++i) {
      const std::string case_id = "K-" + std::to_string(round) + "-" + std::to_string(i);
      auto resp = epb->Submit(testing::TransferEnvelope(case_id));
      ASSERT_TRUE(resp.ok()) << resp.status();
      acknowledged.push_back(case_id);
    }
    // The last acknowledgement has just arrived: kill without any chance to flush.
    gateway.Kill();
  }

  testing::GatewayProcess gateway(CASELINK_GATEWAY_BINARY, config, dir + "/ready");
  const int port = gateway.WaitForPort();
  ASSERT_GT(port, 0);
  auto psb = connect("510100.psb", port);
  auto deliveries = testing::ReadDeliveries(*psb, acknowledged.size(), absl::Seconds(20));
  ASSERT_EQ(deliveries.size(), acknowledged.size());
  for (size_t i = 0; i < acknowledged.size(); ++i) {
    EXPECT_EQ(deliveries[i].case_id(), acknowledged[i]) << "deliveries keep commit order";
  }
  gateway.Kill();
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace caselink
