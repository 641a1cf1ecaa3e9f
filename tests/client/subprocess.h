// Runs a command as a child process and captures its exit code, stdout and stderr (for the CLI,
// Python and benchmark tests). Not thread-safe with respect to the environment it changes.
#pragma once

#include <map>
#include <string>
#include <vector>

namespace moe::testing {

struct CommandResult {
  int exit_code = -1;  // 128 + signal when killed; 127 when it could not be executed
  std::string out;
  std::string err;
};

// Runs argv[0] (a path, or a name looked up in PATH) with `env` added to the environment;
// kills it after `timeout_s` seconds (exit code 137).
CommandResult RunCommand(const std::vector<std::string>& argv,
                         const std::map<std::string, std::string>& env = {}, int timeout_s = 120);

// The first Python 3 interpreter that can import grpc and google.protobuf ("" if none):
// /usr/bin/python3 (Debian's python3-grpcio), then python3 from PATH.
std::string FindPythonWithGrpc();

}  // namespace moe::testing
