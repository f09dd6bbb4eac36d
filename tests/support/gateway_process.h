// Test support: the real caselink-gateway binary as a child process, for
// tests that kill it with SIGKILL and start it again.
#pragma once

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>

namespace caselink::testing {

class GatewayProcess {
 public:
  GatewayProcess(const std::string& binary, const std::string& config, const std::string& ready_file)
      : ready_file_(ready_file) {
    std::filesystem::remove(ready_file_);
    pid_ = fork();
    if (pid_ == 0) {
      execl(binary.c_str(), binary.c_str(), "--config", config.c_str(), "--ready-file", ready_file.c_str(),
            static_cast<char*>(nullptr));
      _exit(127);
    }
  }
  ~GatewayProcess() { Kill(); }

  // Waits for the ready file (an external process: polling is the only way to
  // know); -1 if the process exits first or 30 s pass.
  int WaitForPort() {
    for (int i = 0; i < 600; ++i) {
      std::ifstream in(ready_file_);
      int port = 0;
      if (in >> port && port > 0) return port;
      int status;
      if (waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        return -1;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return -1;
  }

  pid_t pid() const { return pid_; }

  void Kill() {
    if (pid_ <= 0) return;
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
    pid_ = -1;
  }

 private:
  std::string ready_file_;
  pid_t pid_ = -1;
};

}  // namespace caselink::testing
