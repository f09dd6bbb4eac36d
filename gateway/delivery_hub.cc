// Delivery notifications, coalesced per agency.
#include "gateway/delivery_hub.h"

#include <vector>

#include "adapters/store/store.h"

namespace caselink {

DeliveryHub::DeliveryHub() : thread_([this] { Run(); }) {}

DeliveryHub::~DeliveryHub() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

void DeliveryHub::AddListener(const std::string& agency, DeliveryListener* listener) {
  std::lock_guard<std::mutex> lock(mu_);
  listeners_.emplace(agency, listener);
}

void DeliveryHub::RemoveListener(const std::string& agency, DeliveryListener* listener) {
  std::lock_guard<std::mutex> call_lock(call_mu_);
  std::lock_guard<std::mutex> lock(mu_);
  auto [begin, end] = listeners_.equal_range(agency);
  for (auto it = begin; it != end; ++it) {
    if (it->second == listener) {
      listeners_.erase(it);
      return;
    }
  }
}

void DeliveryHub::Notify(const std::string& agency) {
  bool schedule;
  {
    std::lock_guard<std::mutex> lock(mu_);
    dirty_.insert(agency);
    schedule = !wake_scheduled_;
    wake_scheduled_ = true;
  }
  // A group commit's answers notify for each envelope, and waking the hub
  // thread for each cost two thread switches per handoff at full load: one
  // wake-up per group is enough. Outside a group it wakes at once.
  if (schedule) AfterGroupDone([this] { Wake(); });
}

void DeliveryHub::Wake() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    wake_ = true;
  }
  cv_.notify_one();
}

void DeliveryHub::Run() {
  for (;;) {
    std::set<std::string> dirty;
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [this] { return stopping_ || wake_; });
      if (stopping_) return;
      dirty.swap(dirty_);
      wake_ = false;
      wake_scheduled_ = false;
    }
    if (dirty.empty()) continue;  // taken by the round before this wake-up
    std::lock_guard<std::mutex> call_lock(call_mu_);
    std::vector<DeliveryListener*> targets;
    {
      std::lock_guard<std::mutex> lock(mu_);
      for (const auto& agency : dirty) {
        auto [begin, end] = listeners_.equal_range(agency);
        for (auto it = begin; it != end; ++it) targets.push_back(it->second);
      }
    }
    for (DeliveryListener* l : targets) l->OnDeliveriesAvailable();
    rounds_.fetch_add(1, std::memory_order_relaxed);
  }
}

}  // namespace caselink
