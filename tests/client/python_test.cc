// The Python client (client/python) against a real moe-serve with the demo model: the test
// script tests/client/python_client_test.py and the example. Skips without python3-grpcio.
#include <gtest/gtest.h>

#include "tests/client/subprocess.h"
#include "tests/testing/server_process.h"

namespace moe {
namespace {

using testing::CommandResult;
using testing::RunCommand;
using testing::ServerProcess;

TEST(PythonClientTest, ScriptAndExample) {
  const std::string python = testing::FindPythonWithGrpc();
  if (python.empty()) GTEST_SKIP() << "no python3 with grpcio and protobuf (python3-grpcio)";
  auto server =
      ServerProcess::Start({"--model", MOE_DEMO_MODEL_DIR, "--threads", "1", "--kv-blocks", "512"});
  ASSERT_TRUE(server.ok()) << server.status();
  const std::map<std::string, std::string> env = {
      {"PYTHONPATH",
       std::string(MOE_BINARY_DIR) + "/client/python:" MOE_SOURCE_DIR "/client/python"},
      {"PYTHONDONTWRITEBYTECODE", "1"}};

  CommandResult r = RunCommand(
      {python, MOE_SOURCE_DIR "/tests/client/python_client_test.py", (*server)->grpc_target()},
      env);
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_EQ(r.out, "PASS\n") << r.err;

  r = RunCommand({python, MOE_SOURCE_DIR "/client/python/example.py", "--target",
                  (*server)->grpc_target(), "--prompt", "Who art thou?", "--max-tokens", "5"},
                 env);
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("health: SERVING\n"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("model: "), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("(qwen3_moe), vocab 151936"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("\nanswer: "), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("finish: "), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("completion_tokens="), std::string::npos) << r.out;

  // Errors come out as "example: CODE: message" with exit code 1.
  r = RunCommand({python, MOE_SOURCE_DIR "/client/python/example.py", "--target", "localhost:1",
                  "--timeout", "5"},
                 env);
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  EXPECT_EQ(r.err.rfind("example: UNAVAILABLE: ", 0), 0u) << r.err;
}

}  // namespace
}  // namespace moe
