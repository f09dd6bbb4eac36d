#include "tools/loadgen/disk_probe.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <functional>
#include <numeric>
#include <string>
#include <system_error>
#include <thread>

#include "absl/strings/str_cat.h"

namespace caselink::loadgen {
namespace {

absl::Status ErrnoError(const char* what, const std::filesystem::path& path) {
  return absl::UnavailableError(absl::StrCat("disk probe: ", what, " ", path.string(), ": ", std::strerror(errno)));
}

absl::Status WriteAll(int fd, const std::string& bytes, off_t offset, const std::filesystem::path& path) {
  size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n = pwrite(fd, bytes.data() + done, bytes.size() - done, offset + static_cast<off_t>(done));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return ErrnoError("cannot write", path);
    done += static_cast<size_t>(n);
  }
  return absl::OkStatus();
}

double Quantile(const std::vector<double>& sorted, double q) {
  if (sorted.empty()) return 0;
  const size_t i = std::min(sorted.size() - 1, static_cast<size_t>(q * static_cast<double>(sorted.size())));
  return sorted[i];
}

}  // namespace

class DiskProbe::Impl {
 public:
  Impl(DiskProbeOptions options, int fd, std::filesystem::path path)
      : options_(std::move(options)), fd_(fd), path_(std::move(path)), block_(options_.write_bytes, 'p') {}

  ~Impl() { Stop(); }

  void Begin() { thread_ = std::thread([this] { Run(); }); }

  DiskProbeSamples Stop() {
    if (stopped_) return {};
    stopped_ = true;
    stop_.store(true);
    if (thread_.joinable()) thread_.join();
    close(fd_);
    std::error_code ignored;
    std::filesystem::remove(path_, ignored);
    return std::move(samples_);
  }

 private:
  void Run() {
    const size_t slots = std::max<size_t>(1, options_.file_bytes / options_.write_bytes);
    const absl::Time first = absl::Now();
    absl::Time next = first;
    absl::Time last_end = first;
    for (size_t i = 0; !stop_.load(); ++i) {
      const absl::Time start = absl::Now();
      const off_t offset = static_cast<off_t>((i % slots) * options_.write_bytes);
      absl::Status s = WriteAll(fd_, block_, offset, path_);
      if (s.ok() && fdatasync(fd_) != 0) s = ErrnoError("cannot fdatasync", path_);
      last_end = absl::Now();
      if (!s.ok()) {
        samples_.error = std::move(s);
        break;
      }
      samples_.sync_ms.push_back(absl::ToDoubleMilliseconds(last_end - start));
      // A fixed schedule, so a stall is followed at once by the next sample
      // rather than by a whole interval of not looking.
      next += options_.interval;
      if (next <= last_end) {
        next = last_end;
        continue;
      }
      while (!stop_.load()) {
        const absl::Duration left = next - absl::Now();
        if (left <= absl::ZeroDuration()) break;
        absl::SleepFor(std::min(left, absl::Milliseconds(50)));
      }
    }
    samples_.seconds = absl::ToDoubleSeconds(last_end - first);
  }

  const DiskProbeOptions options_;
  const int fd_;
  const std::filesystem::path path_;
  const std::string block_;
  std::atomic<bool> stop_{false};
  bool stopped_ = false;
  std::thread thread_;
  DiskProbeSamples samples_;  // written by the thread until it is joined
};

DiskProbe::DiskProbe(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

DiskProbe::~DiskProbe() = default;

DiskProbeSamples DiskProbe::Stop() { return impl_->Stop(); }

absl::StatusOr<std::unique_ptr<DiskProbe>> DiskProbe::Start(const DiskProbeOptions& options) {
  if (options.write_bytes == 0 || options.interval <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("disk probe: the write size and the interval must be positive");
  }
  const std::filesystem::path path = options.dir / "caselink-disk-probe";
  const int fd = open(path.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return ErrnoError("cannot create", path);
  const size_t file_bytes = std::max(options.file_bytes, options.write_bytes);
  absl::Status prepared = WriteAll(fd, std::string(file_bytes, '\0'), 0, path);
  if (prepared.ok() && fsync(fd) != 0) prepared = ErrnoError("cannot fsync", path);
  if (!prepared.ok()) {
    close(fd);
    std::error_code ignored;
    std::filesystem::remove(path, ignored);
    return prepared;
  }
  auto impl = std::make_unique<Impl>(options, fd, path);
  impl->Begin();
  return std::unique_ptr<DiskProbe>(new DiskProbe(std::move(impl)));
}

DiskStalls SummarizeDiskSyncs(const std::vector<double>& sync_ms, double seconds, double stall_threshold_ms,
                              double quantile) {
  DiskStalls out;
  out.syncs = sync_ms.size();
  if (sync_ms.empty()) return out;
  std::vector<double> sorted = sync_ms;
  std::sort(sorted.begin(), sorted.end());
  out.p50_ms = Quantile(sorted, 0.5);
  out.p99_ms = Quantile(sorted, 0.99);
  out.max_ms = sorted.back();
  const double probed_ms = std::max(seconds * 1000, std::accumulate(sorted.begin(), sorted.end(), 0.0));
  double beyond = 0;
  for (double d : sorted) {
    if (d <= stall_threshold_ms) continue;
    ++out.stalls;
    out.stall_ms += d;
    beyond += d - stall_threshold_ms;
  }
  out.share_beyond_threshold = beyond / probed_ms;

  // share(L) = sum(max(0, d - L)) / probed_ms falls as L rises. Between the
  // k-th and (k+1)-th longest syncs it is (sum of the k longest - k L) / probed_ms;
  // the floor is where it reaches 1 - quantile.
  const double allowed_ms = (1 - quantile) * probed_ms;
  std::sort(sorted.begin(), sorted.end(), std::greater<>());
  double top = 0;
  for (size_t k = 1; k <= sorted.size(); ++k) {
    top += sorted[k - 1];
    const double below = k < sorted.size() ? sorted[k] : 0;
    const double level = (top - allowed_ms) / static_cast<double>(k);
    if (level >= below) {
      out.latency_floor_ms = std::max(0.0, level);
      break;
    }
  }
  return out;
}

}  // namespace caselink::loadgen
