// The delivery hub: listeners hear of their agency's new deliveries, and the
// notifications of one group commit's answers wake the hub thread once.
#include "gateway/delivery_hub.h"

#include <gtest/gtest.h>

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "adapters/store/store.h"

namespace caselink {
namespace {

using namespace std::chrono_literals;

class CountingListener : public DeliveryListener {
 public:
  void OnDeliveriesAvailable() override {
    std::lock_guard<std::mutex> lock(mu_);
    ++calls_;
    called_.notify_all();
  }

  // True once the listener has been called `n` times, false after `timeout`.
  bool WaitFor(int n, std::chrono::milliseconds timeout) {
    std::unique_lock<std::mutex> lock(mu_);
    return called_.wait_for(lock, timeout, [&] { return calls_ >= n; });
  }

  int calls() {
    std::lock_guard<std::mutex> lock(mu_);
    return calls_;
  }

 private:
  std::mutex mu_;
  std::condition_variable called_;
  int calls_ = 0;
};

TEST(DeliveryHubTest, ANotificationOutsideAGroupReachesOnlyThatAgencysListener) {
  DeliveryHub hub;
  CountingListener psb, court;
  hub.AddListener("510100.psb", &psb);
  hub.AddListener("510100.court", &court);

  hub.Notify("510100.psb");

  EXPECT_TRUE(psb.WaitFor(1, 5s));
  // The hub calls every listener of a round before counting it.
  for (int i = 0; i < 500 && hub.rounds() < 1; ++i) std::this_thread::sleep_for(10ms);
  EXPECT_EQ(hub.rounds(), 1u);
  EXPECT_EQ(court.calls(), 0);

  hub.RemoveListener("510100.psb", &psb);
  hub.Notify("510100.psb");
  hub.Notify("510100.court");
  EXPECT_TRUE(court.WaitFor(1, 5s));
  EXPECT_EQ(psb.calls(), 1);
}

TEST(DeliveryHubTest, AGroupsNotificationsWakeTheHubOnceAfterItsLastDone) {
  DeliveryHub hub;
  CountingListener psb, procuratorate;
  hub.AddListener("510100.psb", &psb);
  hub.AddListener("510100.procuratorate", &procuratorate);
  {
    // What the store's completion thread opens around one group's Dones.
    GroupDoneScope group;
    for (int i = 0; i < 100; ++i) {
      hub.Notify("510100.psb");
      hub.Notify("510100.procuratorate");
    }
    // Nothing has woken the hub yet: the wake-up waits for the group's end.
    EXPECT_FALSE(psb.WaitFor(1, 200ms));
    EXPECT_EQ(hub.rounds(), 0u);
  }
  EXPECT_TRUE(psb.WaitFor(1, 5s));
  EXPECT_TRUE(procuratorate.WaitFor(1, 5s));
  for (int i = 0; i < 500 && hub.rounds() < 1; ++i) std::this_thread::sleep_for(10ms);
  EXPECT_EQ(hub.rounds(), 1u);
  EXPECT_EQ(psb.calls(), 1);
  EXPECT_EQ(procuratorate.calls(), 1);

  // The next group wakes it again.
  {
    GroupDoneScope group;
    hub.Notify("510100.psb");
  }
  EXPECT_TRUE(psb.WaitFor(2, 5s));
  EXPECT_EQ(procuratorate.calls(), 1);
}

}  // namespace
}  // namespace caselink
