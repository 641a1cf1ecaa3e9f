// Runs a command line and captures its output and exit code, for tests of the CLI tools.
#pragma once

#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <string>

namespace moe::testing {

struct CommandResult {
  int exit_code = -1;
  std::string out;  // stdout (stderr too when merged)
};

// Runs `cmd` through the shell; appends " 2>&1" when merge_stderr.
inline CommandResult RunCommand(const std::string& cmd, bool merge_stderr = false) {
  CommandResult r;
  FILE* p = popen((cmd + (merge_stderr ? " 2>&1" : " 2>/dev/null")).c_str(), "r");
  if (p == nullptr) return r;
  std::array<char, 4096> buf;
  size_t n;
  while ((n = fread(buf.data(), 1, buf.size(), p)) > 0) r.out.append(buf.data(), n);
  int status = pclose(p);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

}  // namespace moe::testing
