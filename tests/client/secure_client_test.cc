// The clients against servers that require an API key, and that serve TLS with the test CA:
// the C++ SDK, the moe-client CLI and the Python client.
#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>

#include "absl/strings/str_join.h"
#include "client/client.h"
#include "tests/client/subprocess.h"
#include "tests/testing/server_process.h"

namespace moe {
namespace {

using testing::CommandResult;
using testing::RunCommand;
using testing::ServerProcess;

const std::string kTlsDir = std::string(MOE_TEST_DATA_DIR) + "/tls";
const std::string kCli = std::string(MOE_BINARY_DIR) + "/client/moe-client";
const std::string kTinyModel = std::string(MOE_TEST_DATA_DIR) + "/models/tiny-qwen3-moe";

v1::GenerateRequest Ids(int32_t max_tokens) {
  v1::GenerateRequest req;
  for (int32_t id : {1, 2, 3, 4}) req.mutable_token_ids()->add_ids(id);
  req.mutable_sampling()->set_temperature(0.0f);
  req.mutable_sampling()->set_max_tokens(max_tokens);
  req.mutable_sampling()->set_ignore_eos(true);
  return req;
}

// A key file with two keys in a fresh temp dir; removed with the object.
class KeyFile {
 public:
  KeyFile() {
    char dir[] = "/tmp/moe-client-keys-XXXXXX";
    if (mkdtemp(dir) != nullptr) dir_ = dir;
    path_ = dir_ + "/keys.txt";
    std::ofstream(path_) << "# test keys\nsecret-one\nsecret-two\n";
  }
  ~KeyFile() {
    unlink(path_.c_str());
    rmdir(dir_.c_str());
  }
  const std::string& path() const { return path_; }

 private:
  std::string dir_, path_;
};

TEST(SecureClientTest, ApiKey) {
  KeyFile keys;
  auto server = ServerProcess::Start(
      {"--model", kTinyModel, "--threads", "1", "--kv-blocks", "512", "--api-keys", keys.path()});
  ASSERT_TRUE(server.ok()) << server.status();
  const std::string target = (*server)->grpc_target();

  auto anonymous = Client::Create({.target = target});
  ASSERT_TRUE(anonymous.ok());
  EXPECT_EQ((*anonymous)->ModelInfo().status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_EQ((*anonymous)->GenerateText(Ids(2)).status().code(), absl::StatusCode::kUnauthenticated);

  auto wrong = Client::Create({.target = target, .api_key = "secret-three"});
  ASSERT_TRUE(wrong.ok());
  EXPECT_EQ((*wrong)->GenerateText(Ids(2)).status().code(), absl::StatusCode::kUnauthenticated);

  auto right = Client::Create({.target = target, .api_key = "secret-two"});
  ASSERT_TRUE(right.ok());
  absl::StatusOr<GenerateResult> r = (*right)->GenerateText(Ids(3), absl::Seconds(60));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->token_ids.size(), 3u);
  absl::StatusOr<v1::ModelInfoResponse> info = (*right)->ModelInfo(absl::Seconds(10));
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_EQ(info->vocab_size(), 1000);

  // The CLI: --api-key, or MOE_API_KEY from the environment.
  CommandResult c = RunCommand({kCli, "--target", target, "info"});
  EXPECT_EQ(c.exit_code, 1);
  EXPECT_EQ(c.err.rfind("moe-client: UNAUTHENTICATED: ", 0), 0u) << c.err;
  c = RunCommand({kCli, "--target", target, "--api-key", "secret-one", "generate", "--ids",
                  "1,2,3,4", "--max-tokens", "3", "--temperature", "0", "--ignore-eos"});
  EXPECT_EQ(c.exit_code, 0) << c.err;
  EXPECT_NE(c.err.find("completion_tokens=3"), std::string::npos) << c.err;
  // No tokenizer, so no text: the CLI prints the token ids.
  EXPECT_EQ(c.out, absl::StrJoin(r->token_ids, " ") + "\n");
  c = RunCommand({kCli, "--target", target, "info"}, {{"MOE_API_KEY", "secret-two"}});
  EXPECT_EQ(c.exit_code, 0) << c.err;
  EXPECT_NE(c.out.find("\"vocab_size\":1000"), std::string::npos) << c.out;
}

TEST(SecureClientTest, TlsWithTestCa) {
  if (access((kTlsDir + "/ca.pem").c_str(), R_OK) != 0) {
    GTEST_SKIP() << "no test CA in " << kTlsDir;
  }
  KeyFile keys;
  auto server = ServerProcess::Start({"--model", kTinyModel, "--threads", "1", "--kv-blocks", "512",
                                      "--tls-cert", kTlsDir + "/server.pem", "--tls-key",
                                      kTlsDir + "/server.key", "--health-port", "0", "--api-keys",
                                      keys.path()});
  ASSERT_TRUE(server.ok()) << server.status();
  const std::string target = (*server)->grpc_target();  // localhost: matches the certificate
  const std::string ca = kTlsDir + "/ca.pem";

  auto tls = Client::Create(
      {.target = target, .api_key = "secret-one", .tls = true, .tls_root_certs_file = ca});
  ASSERT_TRUE(tls.ok()) << tls.status();
  absl::StatusOr<GenerateResult> r = (*tls)->GenerateText(Ids(3), absl::Seconds(60));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->token_ids.size(), 3u);
  absl::StatusOr<bool> health = (*tls)->Health("", absl::Seconds(10));
  ASSERT_TRUE(health.ok()) << health.status();
  EXPECT_TRUE(*health);

  // By IP address with the certificate's name given explicitly.
  auto by_ip = Client::Create({.target = "127.0.0.1:" + std::to_string((*server)->grpc_port()),
                               .api_key = "secret-one",
                               .tls = true,
                               .tls_root_certs_file = ca,
                               .tls_server_name_override = "localhost"});
  ASSERT_TRUE(by_ip.ok());
  EXPECT_TRUE((*by_ip)->ModelInfo(absl::Seconds(10)).ok());

  // Plaintext to a TLS port, and TLS without trusting the test CA, both fail.
  auto plain = Client::Create({.target = target, .api_key = "secret-one"});
  ASSERT_TRUE(plain.ok());
  EXPECT_FALSE((*plain)->ModelInfo(absl::Seconds(5)).ok());
  auto untrusted = Client::Create({.target = target, .api_key = "secret-one", .tls = true});
  ASSERT_TRUE(untrusted.ok());
  EXPECT_EQ((*untrusted)->ModelInfo(absl::Seconds(5)).status().code(),
            absl::StatusCode::kUnavailable);

  // The CLI over TLS.
  CommandResult c =
      RunCommand({kCli, "--target", target, "--tls-ca", ca, "--api-key", "secret-one", "info"});
  EXPECT_EQ(c.exit_code, 0) << c.err;
  EXPECT_NE(c.out.find("\"vocab_size\":1000"), std::string::npos) << c.out;
  c = RunCommand({kCli, "--target", target, "--timeout", "5", "--api-key", "secret-one", "info"});
  EXPECT_EQ(c.exit_code, 1);

  // The Python client over TLS, with and without the key.
  const std::string python = testing::FindPythonWithGrpc();
  if (python.empty()) return;  // covered by python_client_test's skip
  const std::map<std::string, std::string> env = {
      {"PYTHONPATH",
       std::string(MOE_BINARY_DIR) + "/client/python:" + MOE_SOURCE_DIR + "/client/python"},
      {"PYTHONDONTWRITEBYTECODE", "1"}};
  const std::string script =
      "import sys\n"
      "from moe_client import Client, Error\n"
      "target, ca = sys.argv[1], sys.argv[2]\n"
      "c = Client(target, api_key='secret-two', tls_ca=ca)\n"
      "r = c.generate(token_ids=[1, 2, 3], max_tokens=2, ignore_eos=True).collect()\n"
      "print(c.model_info().vocab_size, len(r.token_ids))\n"
      "try:\n"
      "    Client(target, tls_ca=ca).model_info(timeout=10)\n"
      "except Error as e:\n"
      "    print(e.code)\n";
  c = RunCommand({python, "-c", script, target, ca}, env);
  EXPECT_EQ(c.exit_code, 0) << c.out << c.err;
  EXPECT_EQ(c.out, "1000 2\nUNAUTHENTICATED\n") << c.err;
}

}  // namespace
}  // namespace moe
