#include "gateway/metrics_http.h"

#include <netdb.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"

namespace caselink {
namespace {

constexpr size_t kMaxRequestBytes = 8192;
constexpr int kClientTimeoutMs = 2000;

struct HostPort {
  std::string host;
  std::string port;
};

absl::StatusOr<HostPort> SplitHostPort(const std::string& address) {
  const size_t colon = address.rfind(':');
  if (colon == std::string::npos || colon + 1 == address.size()) {
    return absl::InvalidArgumentError(absl::StrCat("'", address, "' is not host:port"));
  }
  HostPort out{address.substr(0, colon), address.substr(colon + 1)};
  // [::1]:9100 names an IPv6 address.
  if (out.host.size() >= 2 && out.host.front() == '[' && out.host.back() == ']') {
    out.host = out.host.substr(1, out.host.size() - 2);
  }
  int port = 0;
  if (!absl::SimpleAtoi(out.port, &port) || port < 0 || port > 65535) {
    return absl::InvalidArgumentError(absl::StrCat("'", address, "' has no port number 0-65535 after the last ':'"));
  }
  return out;
}

class FdCloser {
 public:
  explicit FdCloser(int fd) : fd_(fd) {}
  ~FdCloser() {
    if (fd_ >= 0) close(fd_);
  }
  FdCloser(const FdCloser&) = delete;
  FdCloser& operator=(const FdCloser&) = delete;
  int get() const { return fd_; }
  int release() {
    const int fd = fd_;
    fd_ = -1;
    return fd;
  }

 private:
  int fd_;
};

// Waits until `fd` is ready for `events` or the deadline passes.
bool WaitFor(int fd, short events, int timeout_ms) {
  pollfd p{fd, events, 0};
  for (;;) {
    const int n = poll(&p, 1, timeout_ms);
    if (n > 0) return true;
    if (n == 0 || errno != EINTR) return false;
  }
}

bool SendAll(int fd, absl::string_view data, int timeout_ms) {
  while (!data.empty()) {
    if (!WaitFor(fd, POLLOUT, timeout_ms)) return false;
    const ssize_t n = send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR || errno == EAGAIN) continue;
      return false;
    }
    data.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

std::string Response(absl::string_view status, absl::string_view content_type, absl::string_view body) {
  return absl::StrCat("HTTP/1.1 ", status, "\r\nContent-Type: ", content_type, "\r\nContent-Length: ", body.size(),
                      "\r\nConnection: close\r\n\r\n", body);
}

class MetricsHttpServerImpl final : public MetricsHttpServer {
 public:
  MetricsHttpServerImpl(int listen_fd, int stop_fd, int port, Render render)
      : listen_fd_(listen_fd), stop_fd_(stop_fd), port_(port), render_(std::move(render)) {
    thread_ = std::thread([this] { Serve(); });
  }

  ~MetricsHttpServerImpl() override {
    const uint64_t one = 1;
    (void)!write(stop_fd_, &one, sizeof(one));
    thread_.join();
    close(listen_fd_);
    close(stop_fd_);
  }

  int port() const override { return port_; }

 private:
  void Serve() {
    for (;;) {
      pollfd fds[2] = {{listen_fd_, POLLIN, 0}, {stop_fd_, POLLIN, 0}};
      if (poll(fds, 2, -1) < 0) {
        if (errno == EINTR) continue;
        return;
      }
      if (fds[1].revents != 0) return;
      const int conn = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
      if (conn < 0) continue;
      FdCloser closer(conn);
      Answer(conn);
    }
  }

  void Answer(int fd) {
    std::string request;
    char buf[1024];
    // Only the request line and headers matter; a GET has no body.
    while (request.find("\r\n\r\n") == std::string::npos && request.size() < kMaxRequestBytes) {
      if (!WaitFor(fd, POLLIN, kClientTimeoutMs)) return;
      const ssize_t n = recv(fd, buf, sizeof(buf), 0);
      if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
      if (n <= 0) return;
      request.append(buf, static_cast<size_t>(n));
    }
    const absl::string_view line = absl::string_view(request).substr(0, request.find("\r\n"));
    const std::vector<absl::string_view> parts = absl::StrSplit(line, ' ');
    constexpr absl::string_view kText = "text/plain; charset=utf-8";
    if (parts.size() != 3 || !absl::StartsWith(parts[2], "HTTP/1.")) {
      SendAll(fd, Response("400 Bad Request", kText, "expected an HTTP/1.x request line\n"), kClientTimeoutMs);
      return;
    }
    const absl::string_view path = parts[1].substr(0, parts[1].find('?'));
    if (path != "/metrics") {
      SendAll(fd, Response("404 Not Found", kText, "CaseLink serves its metrics at /metrics\n"), kClientTimeoutMs);
      return;
    }
    if (parts[0] != "GET") {
      SendAll(fd, Response("405 Method Not Allowed", kText, "/metrics answers GET only\n"), kClientTimeoutMs);
      return;
    }
    SendAll(fd, Response("200 OK", "text/plain; version=0.0.4; charset=utf-8", render_()), kClientTimeoutMs);
  }

  const int listen_fd_;
  const int stop_fd_;
  const int port_;
  const Render render_;
  std::thread thread_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<MetricsHttpServer>> MetricsHttpServer::Start(const std::string& address,
                                                                          Render render) {
  auto hp = SplitHostPort(address);
  if (!hp.ok()) return absl::InvalidArgumentError(absl::StrCat("metrics_address: ", hp.status().message()));
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE;
  addrinfo* found = nullptr;
  if (const int rc = getaddrinfo(hp->host.empty() ? nullptr : hp->host.c_str(), hp->port.c_str(), &hints, &found);
      rc != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("metrics_address: cannot resolve '", address, "': ", gai_strerror(rc)));
  }
  std::string last_error = "no address to bind";
  int listen_fd = -1;
  for (addrinfo* ai = found; ai != nullptr && listen_fd < 0; ai = ai->ai_next) {
    FdCloser fd(socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, ai->ai_protocol));
    if (fd.get() < 0) {
      last_error = std::strerror(errno);
      continue;
    }
    const int yes = 1;
    setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
    if (bind(fd.get(), ai->ai_addr, ai->ai_addrlen) != 0 || listen(fd.get(), 16) != 0) {
      last_error = std::strerror(errno);
      continue;
    }
    listen_fd = fd.release();
  }
  freeaddrinfo(found);
  if (listen_fd < 0) {
    return absl::UnavailableError(absl::StrCat("metrics_address: cannot listen on ", address, ": ", last_error));
  }
  sockaddr_storage bound{};
  socklen_t len = sizeof(bound);
  getsockname(listen_fd, reinterpret_cast<sockaddr*>(&bound), &len);
  char port_text[NI_MAXSERV] = "0";
  getnameinfo(reinterpret_cast<sockaddr*>(&bound), len, nullptr, 0, port_text, sizeof(port_text), NI_NUMERICSERV);
  int port = 0;
  (void)absl::SimpleAtoi(port_text, &port);
  const int stop_fd = eventfd(0, EFD_CLOEXEC);
  if (stop_fd < 0) {
    close(listen_fd);
    return absl::InternalError(absl::StrCat("metrics server: eventfd: ", std::strerror(errno)));
  }
  return std::unique_ptr<MetricsHttpServer>(new MetricsHttpServerImpl(listen_fd, stop_fd, port, std::move(render)));
}

absl::StatusOr<std::string> HttpGet(const std::string& address, const std::string& path, int timeout_ms) {
  auto hp = SplitHostPort(address);
  if (!hp.ok()) return hp.status();
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  if (const int rc = getaddrinfo(hp->host.empty() ? "localhost" : hp->host.c_str(), hp->port.c_str(), &hints, &found);
      rc != 0) {
    return absl::UnavailableError(absl::StrCat("cannot resolve ", address, ": ", gai_strerror(rc)));
  }
  std::string last_error = "no address";
  int conn = -1;
  for (addrinfo* ai = found; ai != nullptr && conn < 0; ai = ai->ai_next) {
    FdCloser fd(socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, ai->ai_protocol));
    if (fd.get() < 0) continue;
    if (connect(fd.get(), ai->ai_addr, ai->ai_addrlen) != 0 && errno != EINPROGRESS) {
      last_error = std::strerror(errno);
      continue;
    }
    int error = 0;
    socklen_t len = sizeof(error);
    if (!WaitFor(fd.get(), POLLOUT, timeout_ms) || getsockopt(fd.get(), SOL_SOCKET, SO_ERROR, &error, &len) != 0 ||
        error != 0) {
      last_error = error != 0 ? std::strerror(error) : "timed out";
      continue;
    }
    conn = fd.release();
  }
  freeaddrinfo(found);
  if (conn < 0) return absl::UnavailableError(absl::StrCat("cannot connect to ", address, ": ", last_error));
  FdCloser closer(conn);
  if (!SendAll(conn, absl::StrCat("GET ", path, " HTTP/1.1\r\nHost: ", address, "\r\nConnection: close\r\n\r\n"),
               timeout_ms)) {
    return absl::UnavailableError(absl::StrCat("cannot send a request to ", address));
  }
  std::string answer;
  char buf[16384];
  for (;;) {
    if (!WaitFor(conn, POLLIN, timeout_ms)) {
      return absl::DeadlineExceededError(absl::StrCat("no complete answer from ", address, " within ", timeout_ms, " ms"));
    }
    const ssize_t n = recv(conn, buf, sizeof(buf), 0);
    if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
    if (n < 0) return absl::UnavailableError(absl::StrCat("reading from ", address, ": ", std::strerror(errno)));
    if (n == 0) break;  // the server closes after its answer
    answer.append(buf, static_cast<size_t>(n));
  }
  const size_t head_end = answer.find("\r\n\r\n");
  if (head_end == std::string::npos) return absl::UnavailableError(absl::StrCat("no HTTP answer from ", address));
  const absl::string_view status_line = absl::string_view(answer).substr(0, answer.find("\r\n"));
  if (!absl::StartsWith(status_line, "HTTP/1.1 200") && !absl::StartsWith(status_line, "HTTP/1.0 200")) {
    return absl::UnavailableError(absl::StrCat("GET ", path, " from ", address, " answered '", status_line, "'"));
  }
  return answer.substr(head_end + 4);
}

}  // namespace caselink
