// The C++ SDK against a real moe-serve serving the demo model: streaming, the iterator form,
// cancellation, deadlines, unary calls, errors and concurrent use of one client.
#include "client/client.h"

#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include "tests/testing/server_process.h"

namespace moe {
namespace {

using testing::ServerProcess;

class ClientTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto server = ServerProcess::Start(
        {"--model", MOE_DEMO_MODEL_DIR, "--threads", "1", "--kv-blocks", "512"});
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = server->release();
  }
  static void TearDownTestSuite() {
    delete server_;
    server_ = nullptr;
  }
  void SetUp() override {
    ASSERT_NE(server_, nullptr);
    auto client = Client::Create({.target = server_->grpc_target()});
    ASSERT_TRUE(client.ok()) << client.status();
    client_ = *std::move(client);
  }

  // A greedy request for exactly `max_tokens` tokens.
  static v1::GenerateRequest Greedy(const std::string& text, int32_t max_tokens) {
    v1::GenerateRequest req;
    req.set_text(text);
    req.mutable_sampling()->set_temperature(0.0f);
    req.mutable_sampling()->set_max_tokens(max_tokens);
    req.mutable_sampling()->set_ignore_eos(true);
    return req;
  }

  static ServerProcess* server_;
  std::unique_ptr<Client> client_;
};

ServerProcess* ClientTest::server_ = nullptr;

TEST_F(ClientTest, StreamsDeltasThenFinishReasonAndUsage) {
  std::vector<v1::GenerateResponse> deltas;
  absl::Status s = client_->Generate(Greedy("To be, or not to be", 16),
                                     [&deltas](const v1::GenerateResponse& d) {
                                       deltas.push_back(d);
                                       return true;
                                     });
  ASSERT_TRUE(s.ok()) << s;
  ASSERT_GE(deltas.size(), 2u);
  int tokens = 0;
  std::string text;
  for (size_t i = 0; i < deltas.size(); ++i) {
    tokens += deltas[i].token_ids_size();
    text += deltas[i].text();
    if (i + 1 < deltas.size()) {
      EXPECT_EQ(deltas[i].finish_reason(), v1::FINISH_REASON_UNSPECIFIED) << i;
    }
  }
  const v1::GenerateResponse& last = deltas.back();
  EXPECT_EQ(last.finish_reason(), v1::FINISH_REASON_LENGTH);
  ASSERT_TRUE(last.has_usage());
  EXPECT_EQ(last.usage().completion_tokens(), 16);
  EXPECT_GT(last.usage().prompt_tokens(), 0);
  EXPECT_EQ(tokens, 16);
  EXPECT_FALSE(text.empty());

  // The collected form gives the same greedy answer.
  absl::StatusOr<GenerateResult> r = client_->GenerateText(Greedy("To be, or not to be", 16));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->text, text);
  EXPECT_EQ(r->token_ids.size(), 16u);
  EXPECT_EQ(r->usage.completion_tokens(), 16);
  EXPECT_EQ(r->finish_reason, v1::FINISH_REASON_LENGTH);
  EXPECT_EQ(static_cast<int>(r->prompt_token_ids.size()), r->usage.prompt_tokens());
}

TEST_F(ClientTest, IteratorFormAndChat) {
  absl::StatusOr<GenerateResult> expected = client_->GenerateText(Greedy("Good morrow", 8));
  ASSERT_TRUE(expected.ok()) << expected.status();
  std::unique_ptr<GenerateStream> stream = client_->StartGenerate(Greedy("Good morrow", 8));
  GenerateResult got;
  v1::GenerateResponse delta;
  while (stream->Next(&delta)) Accumulate(delta, &got);
  EXPECT_FALSE(stream->Next(&delta));  // stays ended
  ASSERT_TRUE(stream->Finish().ok());
  EXPECT_EQ(got.token_ids, expected->token_ids);
  EXPECT_EQ(got.text, expected->text);

  v1::ChatRequest chat;
  v1::ChatMessage* m = chat.add_messages();
  m->set_role("user");
  m->set_content("Who art thou?");
  chat.set_enable_thinking(false);
  chat.mutable_sampling()->set_max_tokens(8);
  chat.mutable_sampling()->set_ignore_eos(true);
  absl::StatusOr<GenerateResult> answer = client_->ChatText(chat, absl::Seconds(60));
  ASSERT_TRUE(answer.ok()) << answer.status();
  EXPECT_EQ(answer->usage.completion_tokens(), 8);
  EXPECT_GT(answer->usage.prompt_tokens(), 5);  // the template adds role markers
}

TEST_F(ClientTest, CancelMidStreamReturnsCancelledPromptly) {
  int seen = 0;
  const auto start = std::chrono::steady_clock::now();
  absl::Status s = client_->Generate(Greedy("Once more unto the breach", 2000),
                                     [&seen](const v1::GenerateResponse& d) {
                                       seen += d.token_ids_size();
                                       return seen < 2;
                                     });
  const double secs =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_EQ(s.code(), absl::StatusCode::kCancelled) << s;
  EXPECT_LT(seen, 2000);
  EXPECT_LT(secs, 20.0);

  // Iterator form: Cancel() from the reading thread, and dropping an unfinished stream.
  std::unique_ptr<GenerateStream> stream =
      client_->StartGenerate(Greedy("Once more unto the breach", 2000));
  v1::GenerateResponse delta;
  ASSERT_TRUE(stream->Next(&delta));
  stream->Cancel();
  EXPECT_EQ(stream->Finish().code(), absl::StatusCode::kCancelled);
  stream = client_->StartGenerate(Greedy("Once more unto the breach", 2000));
  ASSERT_TRUE(stream->Next(&delta));
  stream.reset();  // cancels and waits; must not hang
  // The server is still fine afterwards.
  absl::StatusOr<GenerateResult> r = client_->GenerateText(Greedy("Hark", 4));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->token_ids.size(), 4u);
}

TEST_F(ClientTest, DeadlineExceeded) {
  absl::StatusOr<GenerateResult> r = client_->GenerateText(
      Greedy("Now is the winter of our discontent", 2000), absl::Milliseconds(300));
  EXPECT_EQ(r.status().code(), absl::StatusCode::kDeadlineExceeded) << r.status();
}

TEST_F(ClientTest, SlowReaderGetsEveryDelta) {
  // The reader sleeps first, so the reactor's queue fills and reading pauses, then resumes.
  int tokens = 0, deltas = 0;
  absl::Status s = client_->Generate(
      Greedy("Friends, Romans, countrymen", 100), [&](const v1::GenerateResponse& d) {
        if (deltas++ == 0) {
          std::this_thread::sleep_for(std::chrono::milliseconds(500));
        }
        tokens += d.token_ids_size();
        return true;
      });
  ASSERT_TRUE(s.ok()) << s;
  EXPECT_EQ(tokens, 100);
}

TEST_F(ClientTest, UnaryCallsAndHealth) {
  absl::StatusOr<v1::ModelInfoResponse> info = client_->ModelInfo(absl::Seconds(10));
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_EQ(info->model_type(), "qwen3_moe");
  EXPECT_EQ(info->vocab_size(), 151936);
  EXPECT_TRUE(info->has_tokenizer());

  absl::StatusOr<v1::TokenizeResponse> tok = client_->Tokenize("hello world", absl::Seconds(10));
  ASSERT_TRUE(tok.ok()) << tok.status();
  EXPECT_EQ(tok->ids_size(), 2);
  EXPECT_EQ(tok->tokens_size(), tok->ids_size());

  absl::StatusOr<bool> health = client_->Health();
  ASSERT_TRUE(health.ok()) << health.status();
  EXPECT_TRUE(*health);
  health = client_->Health("moe.v1.Inference", absl::Seconds(5));
  ASSERT_TRUE(health.ok()) << health.status();
  EXPECT_TRUE(*health);
  EXPECT_EQ(client_->Health("no.such.Service").status().code(), absl::StatusCode::kNotFound);
}

TEST_F(ClientTest, ErrorsKeepTheServerCodeAndMessage) {
  v1::GenerateRequest bad = Greedy("hello", 4);
  bad.mutable_sampling()->set_temperature(-1.0f);
  absl::StatusOr<GenerateResult> r = client_->GenerateText(bad);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument) << r.status();
  EXPECT_NE(r.status().message().find("temperature"), std::string::npos) << r.status();

  auto dead = Client::Create({.target = "localhost:1"});
  ASSERT_TRUE(dead.ok());
  EXPECT_EQ((*dead)->ModelInfo(absl::Seconds(5)).status().code(), absl::StatusCode::kUnavailable);
  EXPECT_FALSE(Client::Create({.target = ""}).ok());
  EXPECT_FALSE(Client::Create({.tls = true, .tls_root_certs_file = "/no/such/ca.pem"}).ok());
}

TEST_F(ClientTest, OneClientManyThreads) {
  absl::StatusOr<GenerateResult> expected = client_->GenerateText(Greedy("Fair is foul", 6));
  ASSERT_TRUE(expected.ok()) << expected.status();
  std::vector<GenerateResult> results(6);
  std::vector<absl::Status> statuses(6);
  std::vector<std::thread> threads;
  for (int i = 0; i < 6; ++i) {
    threads.emplace_back([&, i] {
      auto r = client_->GenerateText(Greedy("Fair is foul", 6), absl::Seconds(120));
      statuses[i] = r.status();
      if (r.ok()) results[i] = *std::move(r);
    });
  }
  for (std::thread& t : threads) t.join();
  for (int i = 0; i < 6; ++i) {
    ASSERT_TRUE(statuses[i].ok()) << statuses[i];
    EXPECT_EQ(results[i].token_ids, expected->token_ids) << i;
  }
}

}  // namespace
}  // namespace moe
