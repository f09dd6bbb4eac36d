// Delivery notifications, coalesced per agency.
#include "gateway/delivery_hub.h"

#include <vector>

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
  {
    std::lock_guard<std::mutex> lock(mu_);
    dirty_.insert(agency);
  }
  cv_.notify_one();
}

void DeliveryHub::Run() {
  for (;;) {
    std::set<std::string> dirty;
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [this] { return stopping_ || !dirty_.empty(); });
      if (stopping_) return;
      dirty.swap(dirty_);
    }
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
  }
}

}  // namespace caselink
