// What the Google Benchmark programs share: failing set-up, a scratch directory, and the
// rates of a run collected by name so each program can print ratios to its baseline.
#pragma once

#include <errno.h>
#include <stdlib.h>

#include <cstdio>
#include <filesystem>
#include <map>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include "benchmark/benchmark.h"

namespace caselink::bench {

// A benchmark whose set-up fails measures nothing: say why and stop.
[[noreturn]] inline void Die(const std::string& what) {
  std::fprintf(stderr, "%s: %s\n", program_invocation_short_name, what.c_str());
  std::exit(1);
}

// A fresh directory under the system temp dir, removed on destruction.
class TempDir {
 public:
  TempDir() {
    std::string pattern =
        (std::filesystem::temp_directory_path() / (std::string(program_invocation_short_name) + "-XXXXXX")).string();
    if (mkdtemp(pattern.data()) == nullptr) Die("cannot create a temp dir");
    path_ = std::move(pattern);
  }
  ~TempDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// Prints like the console reporter and keeps, by benchmark name, the operations per CPU
// second (as `openssl speed` divides by CPU time) and every user counter
// ("items_per_second" and the benchmark's own). With --benchmark_repetitions the median
// of the repetitions stands for the benchmark; it is also all that
// --benchmark_report_aggregates_only reports. The library reports it after the runs.
class RateCollector : public benchmark::ConsoleReporter {
 public:
  void ReportRuns(const std::vector<Run>& runs) override {
    for (const Run& run : runs) {
      const bool median = run.run_type == Run::RT_Aggregate && run.aggregate_name == "median";
      if ((run.run_type != Run::RT_Iteration && !median) || run.error_occurred) continue;
      const std::string name = run.run_name.str();
      if (run.cpu_accumulated_time > 0) {
        cpu_rates_[name] = static_cast<double>(run.iterations) / run.cpu_accumulated_time;
      }
      for (const auto& [counter, value] : run.counters) counters_[{name, counter}] = value.value;
    }
    ConsoleReporter::ReportRuns(runs);
  }
  // Iterations per CPU second; 0 if the benchmark did not run.
  double CpuRate(const std::string& name) const {
    auto it = cpu_rates_.find(name);
    return it == cpu_rates_.end() ? 0 : it->second;
  }
  // A counter's value, e.g. "items_per_second"; 0 if absent.
  double Counter(const std::string& name, const std::string& counter) const {
    auto it = counters_.find({name, counter});
    return it == counters_.end() ? 0 : it->second;
  }
  // Items per second (SetItemsProcessed over the benchmark's time).
  double Rate(const std::string& name) const { return Counter(name, "items_per_second"); }

 private:
  std::map<std::string, double> cpu_rates_;
  std::map<std::pair<std::string, std::string>, double> counters_;
};

}  // namespace caselink::bench
