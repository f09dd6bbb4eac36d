// Configuration loading: YAML and JSON both map onto the proto schema, and
// mistakes are reported with the field that is wrong.
#include "gateway/config.h"

#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>

#include "gateway/deadlines/holiday_calendar.h"
#include "tests/support/test_gateway.h"
#include "tools/devpki/dev_pki.h"

namespace caselink {
namespace {

std::string Write(const std::string& dir, const std::string& name, const std::string& text) {
  const std::string path = dir + "/" + name;
  std::ofstream(path) << text;
  return path;
}

constexpr char kValid[] = R"(
listen_address: "127.0.0.1:7443"
data_dir: data
registry_file: registry.yaml
tls:
  server_certificate_file: gateway/tls.crt
  server_private_key_file: gateway/tls.key
  client_ca_file: ca/ca.crt
gateway_signing_key:
  key_id: "gateway/signing-1"
  private_key_file: gateway/signing.key
)";

TEST(ConfigTest, YamlResolvesPathsAndFillsDefaults) {
  const std::string dir = testing::MakeTempDir();
  auto config = LoadGatewayConfig(Write(dir, "gateway.yaml", kValid));
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->data_dir(), dir + "/data");
  EXPECT_EQ(config->tls().client_ca_file(), dir + "/ca/ca.crt");
  EXPECT_EQ(config->envelope_time_window_seconds(), 300u);
  EXPECT_EQ(config->max_envelope_bytes(), 1u << 20);
  EXPECT_EQ(config->profile(), v1::INTL);
  EXPECT_EQ(config->store().synchronous(), "full");
  EXPECT_EQ(config->holiday_calendar_file(), "");
  std::filesystem::remove_all(dir);
}

TEST(ConfigTest, DevPkiConfigNamesItsOwnCopyOfTheCalendar) {
  const std::string dir = testing::MakeTempDir();
  DevPkiOptions options;
  options.dir = dir + "/pki";
  ASSERT_TRUE(InitDevPki(options).ok());
  auto config = LoadGatewayConfig(options.dir + "/gateway.yaml");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->holiday_calendar_file(), options.dir + "/calendar/cn-holidays.json");
  auto calendar = deadlines::HolidayCalendar::LoadFromFile(config->holiday_calendar_file());
  ASSERT_TRUE(calendar.ok()) << calendar.status();
  EXPECT_FALSE((*calendar)->covered_years().empty());

  // A calendar named by the caller is copied instead of the built-in one.
  const std::string custom = Write(dir, "custom.json", std::string(BuiltInHolidayCalendar()) + "\n");
  options.dir = dir + "/pki2";
  options.calendar_file = custom;
  ASSERT_TRUE(InitDevPki(options).ok());
  std::ifstream copy(options.dir + "/calendar/cn-holidays.json");
  EXPECT_EQ(std::string(std::istreambuf_iterator<char>(copy), {}), std::string(BuiltInHolidayCalendar()) + "\n");
  options.dir = dir + "/pki3";
  options.calendar_file = dir + "/missing.json";
  EXPECT_EQ(InitDevPki(options).code(), absl::StatusCode::kNotFound);
  std::filesystem::remove_all(dir);
}

TEST(ConfigTest, HolidayCalendarIsResolvedLikeTheOtherFiles) {
  const std::string dir = testing::MakeTempDir();
  auto config = LoadGatewayConfig(
      Write(dir, "gateway.yaml", std::string(kValid) + "holiday_calendar_file: calendar/cn-holidays.json\n"));
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->holiday_calendar_file(), dir + "/calendar/cn-holidays.json");
  std::filesystem::remove_all(dir);
}

TEST(ConfigTest, JsonIsAcceptedToo) {
  v1::GatewayConfig config;
  ASSERT_TRUE(ParseYamlOrJson(R"({"listen_address": "0.0.0.0:1", "envelope_time_window_seconds": 60})", config).ok());
  EXPECT_EQ(config.listen_address(), "0.0.0.0:1");
  EXPECT_EQ(config.envelope_time_window_seconds(), 60u);
}

TEST(ConfigTest, UnknownFieldIsNamed) {
  v1::GatewayConfig config;
  auto st = ParseYamlOrJson("listen_adress: x\n", config);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("listen_adress"), std::string::npos) << st;
}

TEST(ConfigTest, MissingRequiredFieldIsNamed) {
  const std::string dir = testing::MakeTempDir();
  auto config = LoadGatewayConfig(Write(dir, "gateway.yaml", "data_dir: d\n"));
  ASSERT_FALSE(config.ok());
  EXPECT_NE(config.status().message().find("'listen_address' is required"), std::string::npos) << config.status();
  std::filesystem::remove_all(dir);
}

TEST(ConfigTest, BadEnumValueIsRefused) {
  v1::GatewayConfig config;
  auto st = ParseYamlOrJson("profile: MARS\n", config);
  EXPECT_FALSE(st.ok());
}

TEST(ConfigTest, QuotedNumbersStayStrings) {
  v1::Agency agency;
  ASSERT_TRUE(ParseYamlOrJson("id: \"510100.psb\"\nregion: \"010100\"\n", agency).ok());
  EXPECT_EQ(agency.region(), "010100");
}

}  // namespace
}  // namespace caselink
