// Envelope ids made by CaseLink's client: valid, unique, and ordered by time.
#include <gtest/gtest.h>

#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/time/clock.h"
#include "gateway/id_syntax.h"
#include "tools/client/agency_client.h"

namespace caselink {
namespace {

// 32 lowercase hex digits, a valid id, and not seen before.
void ExpectNewWellFormedId(const std::string& id, std::set<std::string>& seen) {
  EXPECT_EQ(id.size(), 32u) << id;
  EXPECT_EQ(id.find_first_not_of("0123456789abcdef"), std::string::npos) << id;
  EXPECT_TRUE(IsValidId(id)) << id;
  EXPECT_TRUE(seen.insert(id).second) << "repeated id " << id;
}

TEST(EnvelopeIdTest, TimeOrderedIdsAreValidHexAndUnique) {
  std::set<std::string> seen;
  for (int i = 0; i < 10000; ++i) ExpectNewWellFormedId(NewEnvelopeId(), seen);
}

TEST(EnvelopeIdTest, TheFirstTwelveDigitsAreTheTimeInMilliseconds) {
  const int64_t before = absl::ToUnixMillis(absl::Now());
  const std::string id = NewEnvelopeId();
  const int64_t after = absl::ToUnixMillis(absl::Now());
  uint64_t millis = 0;
  ASSERT_TRUE(absl::SimpleHexAtoi(id.substr(0, 12), &millis)) << id;
  EXPECT_GE(static_cast<int64_t>(millis), before);
  EXPECT_LE(static_cast<int64_t>(millis), after);
}

// Ids made in a later millisecond sort after earlier ones, whichever thread
// makes them: the gateway's id index takes them at its right edge.
TEST(EnvelopeIdTest, LaterIdsSortLater) {
  std::string previous = NewEnvelopeId();
  for (int i = 0; i < 20; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
    std::string next;
    std::thread other([&] { next = NewEnvelopeId(); });
    other.join();
    EXPECT_LT(previous, next);
    previous = next;
  }
}

TEST(EnvelopeIdTest, RandomIdsAreValidHexAndUnordered) {
  std::set<std::string> seen;
  int ascending = 0;
  std::string previous = NewRandomEnvelopeId();
  for (int i = 0; i < 1000; ++i) {
    const std::string id = NewRandomEnvelopeId();
    ExpectNewWellFormedId(id, seen);
    if (previous < id) ++ascending;
    previous = id;
  }
  // About half of them ascend.
  EXPECT_GT(ascending, 350);
  EXPECT_LT(ascending, 650);
}

}  // namespace
}  // namespace caselink
