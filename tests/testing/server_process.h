// Starts a real `moe-serve` process for integration tests: picks free ports, waits (by polling
// the port file, then gRPC health) until it serves, and stops it. Output goes to a log file.
//
//   auto server = moe::testing::ServerProcess::Start({"--model", dir});
//   ASSERT_TRUE(server.ok()) << server.status();
//   ... (*server)->grpc_target() ...
#pragma once

#include <sys/types.h>

#include <memory>
#include <string>
#include <vector>

#include "common/status.h"

namespace moe::testing {

class ServerProcess {
 public:
  // Runs MOE_BINARY_DIR/tools/moe-serve with `args` plus --grpc-port 0 --http-port 0
  // --port-file (unless the args set them). Waits up to `timeout_s` for health SERVING (or,
  // with `wait_serving` false, only for the ports). The error carries the server's log.
  static absl::StatusOr<std::unique_ptr<ServerProcess>> Start(std::vector<std::string> args,
                                                              int timeout_s = 60,
                                                              bool wait_serving = true);
  // The same, with moe-serve started by `launcher` (e.g. {"mpirun", "-np", "3"}): the process
  // is launcher[0] (looked up in PATH), given launcher[1..], the moe-serve path, then `args`.
  static absl::StatusOr<std::unique_ptr<ServerProcess>> StartUnder(
      std::vector<std::string> launcher, std::vector<std::string> args, int timeout_s = 60,
      bool wait_serving = true);
  ~ServerProcess();  // kills the process if it still runs

  int grpc_port() const { return grpc_port_; }
  int http_port() const { return http_port_; }
  int health_port() const { return health_port_; }
  std::string grpc_target() const { return "localhost:" + std::to_string(grpc_port_); }
  pid_t pid() const { return pid_; }

  // gRPC health of `service` ("" = the server): SERVING, NOT_SERVING, ... or an error.
  absl::StatusOr<std::string> Health(const std::string& service = "") const;

  // Sends `sig` (SIGTERM; SIGUSR1 for a job under mpirun, which forwards it to every rank),
  // then waits up to `timeout_s`; returns the exit code (128 + signal when killed), or -1 on
  // timeout (then the process is killed).
  int Terminate(int timeout_s = 30, int sig = 15);
  // SIGKILL and reap.
  void Kill();
  // Waits up to `timeout_s` for the process to exit by itself; exit code or -1.
  int Wait(int timeout_s);
  bool running();

  std::string log() const;  // stdout + stderr so far

 private:
  ServerProcess() = default;
  int Reap(int timeout_s);

  pid_t pid_ = -1;
  int exit_code_ = -1;
  int grpc_port_ = 0, http_port_ = 0, health_port_ = 0;
  std::string dir_;  // temp dir with the port file and log
};

}  // namespace moe::testing
