#include "tests/testing/server_process.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <thread>

#include "absl/strings/str_cat.h"
#include "common/file.h"
#include "common/json.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "grpcpp/grpcpp.h"

namespace moe::testing {
namespace {

bool HasFlag(const std::vector<std::string>& args, const std::string& flag) {
  return std::find(args.begin(), args.end(), flag) != args.end();
}

// Sleeps between polls: the server is another process and has no way to notify us.
void PollPause() { std::this_thread::sleep_for(std::chrono::milliseconds(20)); }

}  // namespace

absl::StatusOr<std::unique_ptr<ServerProcess>> ServerProcess::Start(std::vector<std::string> args,
                                                                    int timeout_s,
                                                                    bool wait_serving) {
  return StartUnder({}, std::move(args), timeout_s, wait_serving);
}

absl::StatusOr<std::unique_ptr<ServerProcess>> ServerProcess::StartUnder(
    std::vector<std::string> launcher, std::vector<std::string> args, int timeout_s,
    bool wait_serving) {
  std::unique_ptr<ServerProcess> p(new ServerProcess());
  char tmpl[] = "/tmp/moe-serve-test-XXXXXX";
  if (mkdtemp(tmpl) == nullptr) return absl::InternalError("mkdtemp failed");
  p->dir_ = tmpl;
  const std::string port_file = p->dir_ + "/ports.json";
  const std::string log_file = p->dir_ + "/log.txt";
  if (!HasFlag(args, "--grpc-port")) args.insert(args.end(), {"--grpc-port", "0"});
  if (!HasFlag(args, "--http-port")) args.insert(args.end(), {"--http-port", "0"});
  args.insert(args.end(), {"--port-file", port_file});
  std::string binary = std::string(MOE_BINARY_DIR) + "/tools/moe-serve";
  if (!launcher.empty()) {
    args.insert(args.begin(), binary);
    args.insert(args.begin(), launcher.begin() + 1, launcher.end());
    binary = launcher[0];
  }
  std::vector<char*> argv;
  argv.push_back(const_cast<char*>(binary.c_str()));
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);

  const pid_t pid = fork();
  if (pid < 0) return absl::InternalError("fork failed");
  if (pid == 0) {
    const int fd = open(log_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd >= 0) {
      dup2(fd, 1);
      dup2(fd, 2);
    }
    execvp(binary.c_str(), argv.data());
    _exit(127);
  }
  p->pid_ = pid;

  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(timeout_s);
  // The port file appears once the server listens.
  for (;;) {
    if (!p->running()) {
      return absl::FailedPreconditionError(
          absl::StrCat("moe-serve exited with ", p->exit_code_, " before listening:\n", p->log()));
    }
    if (FileExists(port_file)) {
      auto text = ReadFile(port_file);
      if (text.ok() && !text->empty() && text->back() == '\n') {
        auto j = ParseJson(*text, port_file);
        if (j.ok()) {
          p->grpc_port_ = j->value("grpc", 0);
          p->http_port_ = j->value("http", 0);
          p->health_port_ = j->value("health", 0);
          break;
        }
      }
    }
    if (std::chrono::steady_clock::now() > deadline) {
      return absl::DeadlineExceededError(
          absl::StrCat("moe-serve did not listen within ", timeout_s, " s:\n", p->log()));
    }
    PollPause();
  }
  if (!wait_serving) return p;
  for (;;) {
    auto h = p->Health();
    if (h.ok() && *h == "SERVING") return p;
    if (!p->running()) {
      return absl::FailedPreconditionError(
          absl::StrCat("moe-serve exited with ", p->exit_code_, ":\n", p->log()));
    }
    if (std::chrono::steady_clock::now() > deadline) {
      return absl::DeadlineExceededError(
          absl::StrCat("moe-serve was not SERVING within ", timeout_s, " s:\n", p->log()));
    }
    PollPause();
  }
}

ServerProcess::~ServerProcess() {
  if (pid_ > 0 && exit_code_ < 0) Kill();
}

absl::StatusOr<std::string> ServerProcess::Health(const std::string& service) const {
  const int port = health_port_ > 0 ? health_port_ : grpc_port_;
  auto channel =
      grpc::CreateChannel(absl::StrCat("localhost:", port), grpc::InsecureChannelCredentials());
  auto stub = grpc::health::v1::Health::NewStub(channel);
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(2));
  grpc::health::v1::HealthCheckRequest req;
  req.set_service(service);
  grpc::health::v1::HealthCheckResponse resp;
  grpc::Status s = stub->Check(&ctx, req, &resp);
  if (!s.ok()) {
    return absl::Status(static_cast<absl::StatusCode>(s.error_code()), s.error_message());
  }
  return grpc::health::v1::HealthCheckResponse::ServingStatus_Name(resp.status());
}

bool ServerProcess::running() {
  if (exit_code_ >= 0) return false;
  return Reap(0) < 0;
}

int ServerProcess::Reap(int timeout_s) {
  if (exit_code_ >= 0) return exit_code_;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(timeout_s);
  for (;;) {
    int status = 0;
    const pid_t r = waitpid(pid_, &status, WNOHANG);
    if (r == pid_) {
      exit_code_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      return exit_code_;
    }
    if (r < 0) return exit_code_ = 255;
    if (std::chrono::steady_clock::now() >= deadline) return -1;
    PollPause();
  }
}

int ServerProcess::Wait(int timeout_s) { return Reap(timeout_s); }

int ServerProcess::Terminate(int timeout_s, int sig) {
  if (exit_code_ >= 0) return exit_code_;
  kill(pid_, sig);
  const int code = Reap(timeout_s);
  if (code < 0) {
    Kill();
    return -1;
  }
  return code;
}

void ServerProcess::Kill() {
  if (exit_code_ >= 0) return;
  kill(pid_, SIGKILL);
  Reap(30);
}

std::string ServerProcess::log() const {
  auto text = ReadFile(dir_ + "/log.txt");
  return text.ok() ? *text : std::string();
}

}  // namespace moe::testing
