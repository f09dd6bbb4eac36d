// /proc readers for the load generator. Field layouts are those of proc(5).
#include "tools/loadgen/process_stats.h"

#include <sched.h>
#include <unistd.h>

#include <cstdlib>
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

// "Name:   12345 kB" lines of /proc/<pid>/status and /proc/meminfo, in bytes.
uint64_t KibField(const std::string& text, const std::string& name) {
  std::istringstream lines(text);
  for (std::string line; std::getline(lines, line);) {
    if (line.rfind(name + ":", 0) != 0) continue;
    return std::strtoull(line.c_str() + name.size() + 1, nullptr, 10) * 1024;
  }
  return 0;
}

}  // namespace

absl::StatusOr<ProcessStats> ReadProcessStats(int pid) {
  const std::string base = absl::StrCat("/proc/", pid, "/");
  absl::StatusOr<std::string> stat = ReadWhole(base + "stat");
  if (!stat.ok()) return stat.status();
  // The command name (field 2) may hold spaces and parentheses; fields after
  // the last ')' start at field 3 (state). utime and stime are fields 14 and 15.
  const size_t close = stat->rfind(')');
  if (close == std::string::npos) return absl::InternalError(absl::StrCat(base, "stat has no command field"));
  std::istringstream fields(stat->substr(close + 1));
  std::vector<std::string> tokens;
  for (std::string token; fields >> token;) tokens.push_back(token);
  if (tokens.size() < 13) return absl::InternalError(absl::StrCat(base, "stat has too few fields"));
  const double ticks = static_cast<double>(sysconf(_SC_CLK_TCK));
  ProcessStats out;
  out.cpu_seconds = (std::strtod(tokens[11].c_str(), nullptr) + std::strtod(tokens[12].c_str(), nullptr)) / ticks;

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

}  // namespace caselink::loadgen
