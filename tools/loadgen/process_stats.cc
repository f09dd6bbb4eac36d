// /proc readers for the load generator. Field layouts are those of proc(5).
#include "tools/loadgen/process_stats.h"

#include <sched.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"

namespace caselink::loadgen {
namespace {

absl::StatusOr<std::string> ReadWhole(const std::string& path) {
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot read ", path, " (is the process running?)"));
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// The number after "Name:" in /proc/<pid>/status and /proc/meminfo, or 0.
uint64_t NumberField(const std::string& text, const std::string& name) {
  std::istringstream lines(text);
  for (std::string line; std::getline(lines, line);) {
    if (line.rfind(name + ":", 0) != 0) continue;
    return std::strtoull(line.c_str() + name.size() + 1, nullptr, 10);
  }
  return 0;
}

// "Name:   12345 kB" lines, in bytes.
uint64_t KibField(const std::string& text, const std::string& name) { return NumberField(text, name) * 1024; }

struct StatLine {
  std::string name;
  double user_seconds = 0;
  double system_seconds = 0;
  int nice = 0;
};

// A /proc/<pid>/stat or /proc/<pid>/task/<tid>/stat line. The command name
// (field 2) may hold spaces and parentheses; the fields after the last ')'
// start at field 3 (state). utime and stime are fields 14 and 15, in ticks;
// nice is field 19.
absl::StatusOr<StatLine> ReadStat(const std::string& path) {
  absl::StatusOr<std::string> stat = ReadWhole(path);
  if (!stat.ok()) return stat.status();
  const size_t open = stat->find('(');
  const size_t close = stat->rfind(')');
  if (open == std::string::npos || close == std::string::npos || close < open) {
    return absl::InternalError(absl::StrCat(path, " has no command field"));
  }
  std::istringstream fields(stat->substr(close + 1));
  std::vector<std::string> tokens;
  for (std::string token; fields >> token;) tokens.push_back(token);
  if (tokens.size() < 17) return absl::InternalError(absl::StrCat(path, " has too few fields"));
  const double ticks = static_cast<double>(sysconf(_SC_CLK_TCK));
  StatLine out;
  out.name = stat->substr(open + 1, close - open - 1);
  out.user_seconds = std::strtod(tokens[11].c_str(), nullptr) / ticks;
  out.system_seconds = std::strtod(tokens[12].c_str(), nullptr) / ticks;
  out.nice = std::atoi(tokens[16].c_str());
  return out;
}

}  // namespace

std::map<int, ThreadCpu> ReadThreadCpu(int pid) {
  std::map<int, ThreadCpu> out;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(absl::StrCat("/proc/", pid, "/task"), ec)) {
    const std::string tid = entry.path().filename().string();
    absl::StatusOr<StatLine> line = ReadStat(entry.path().string() + "/stat");
    if (!line.ok()) continue;
    ThreadCpu& thread = out[std::atoi(tid.c_str())];
    thread = ThreadCpu{};
    thread.name = line->name;
    thread.user_seconds = line->user_seconds;
    thread.system_seconds = line->system_seconds;
    thread.nice = line->nice;
    if (absl::StatusOr<std::string> status = ReadWhole(entry.path().string() + "/status"); status.ok()) {
      thread.voluntary_switches = NumberField(*status, "voluntary_ctxt_switches");
      thread.involuntary_switches = NumberField(*status, "nonvoluntary_ctxt_switches");
    }
    // "<ns on a CPU> <ns waiting for one> <timeslices>"
    if (absl::StatusOr<std::string> sched = ReadWhole(entry.path().string() + "/schedstat"); sched.ok()) {
      std::istringstream fields(*sched);
      uint64_t on_cpu_ns = 0, wait_ns = 0;
      if (fields >> on_cpu_ns >> wait_ns) thread.cpu_wait_seconds = static_cast<double>(wait_ns) / 1e9;
    }
  }
  return out;
}

absl::StatusOr<ProcessStats> ReadProcessStats(int pid) {
  const std::string base = absl::StrCat("/proc/", pid, "/");
  absl::StatusOr<StatLine> stat = ReadStat(base + "stat");
  if (!stat.ok()) return stat.status();
  ProcessStats out;
  out.cpu_seconds = stat->user_seconds + stat->system_seconds;

  absl::StatusOr<std::string> status = ReadWhole(base + "status");
  if (!status.ok()) return status.status();
  out.rss_bytes = KibField(*status, "VmRSS");
  out.peak_rss_bytes = KibField(*status, "VmHWM");
  return out;
}

absl::Status ResetPeakRss(int pid) {
  const std::string path = absl::StrCat("/proc/", pid, "/clear_refs");
  std::ofstream out(path);
  if (!out) return absl::PermissionDeniedError(absl::StrCat("cannot open ", path, " for writing"));
  out << "5\n";
  out.flush();
  if (!out) return absl::PermissionDeniedError(absl::StrCat("the kernel refused the write to ", path));
  return absl::OkStatus();
}

int UsableCpuCount() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof(set), &set) == 0) {
    const int count = CPU_COUNT(&set);
    if (count > 0) return count;
  }
  const long online = sysconf(_SC_NPROCESSORS_ONLN);
  return online > 0 ? static_cast<int>(online) : 1;
}

std::string CpuModelName() {
  std::ifstream in("/proc/cpuinfo");
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("model name", 0) != 0) continue;
    const size_t colon = line.find(':');
    if (colon == std::string::npos) break;
    size_t start = line.find_first_not_of(" \t", colon + 1);
    return start == std::string::npos ? "unknown" : line.substr(start);
  }
  return "unknown";
}

uint64_t MemoryTotalBytes() {
  absl::StatusOr<std::string> meminfo = ReadWhole("/proc/meminfo");
  return meminfo.ok() ? KibField(*meminfo, "MemTotal") : 0;
}

double LoadAverage1m() {
  std::ifstream in("/proc/loadavg");
  double load = -1;
  if (!(in >> load)) return -1;
  return load;
}

}  // namespace caselink::loadgen
