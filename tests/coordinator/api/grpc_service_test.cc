// The Inference service in process: streaming, cancellation, deadlines, validation errors,
// queue limits, API keys, and the "model still loading" state. The coordinator is real; the
// executor is fake (tests/coordinator/api/grpc_test_util.h).
#include <gtest/gtest.h>

#include <memory>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "coordinator/api/auth.h"
#include "grpc_test_util.h"

namespace moe::testing {
namespace {

TEST(GrpcServiceTest, StreamsEveryTokenInOrderAndFinishes) {
  ServerFixture fixture({});
  ASSERT_TRUE(fixture.ok());
  auto stub = fixture.Stub();
  v1::GenerateRequest request = IdsRequest({1, 2, 3}, 200);
  request.set_request_id("stream-1");
  auto context = Context();
  StreamResult result = RunGenerate(stub.get(), request, context.get());
  ASSERT_TRUE(result.status.ok()) << result.status.error_message();
  EXPECT_EQ(result.tokens(), 200);
  ASSERT_FALSE(result.responses.empty());
  EXPECT_EQ(result.responses.front().prompt_token_ids_size(), 3);
  for (const auto& r : result.responses) EXPECT_EQ(r.request_id(), "stream-1");
  const v1::GenerateResponse& last = result.responses.back();
  EXPECT_EQ(last.finish_reason(), v1::FINISH_REASON_LENGTH);
  EXPECT_EQ(last.usage().prompt_tokens(), 3);
  EXPECT_EQ(last.usage().completion_tokens(), 200);
  EXPECT_TRUE(PollUntil([&] { return fixture.coordinator().active_requests() == 0; }));
}

TEST(GrpcServiceTest, ManyConcurrentStreams) {
  ServerFixture fixture({});
  ASSERT_TRUE(fixture.ok());
  auto stub = fixture.Stub();
  std::vector<std::thread> threads;
  std::vector<StreamResult> results(16);
  for (int i = 0; i < 16; ++i) {
    threads.emplace_back([&, i] {
      auto context = Context();
      results[i] = RunGenerate(stub.get(), IdsRequest({1, 2, 3, 4}, 20 + i), context.get());
    });
  }
  for (auto& t : threads) t.join();
  for (int i = 0; i < 16; ++i) {
    EXPECT_TRUE(results[i].status.ok()) << i << ": " << results[i].status.error_message();
    EXPECT_EQ(results[i].tokens(), 20 + i);
  }
}

TEST(GrpcServiceTest, InvalidRequestsEndWithInvalidArgumentNamingTheField) {
  ServerFixture fixture({});
  ASSERT_TRUE(fixture.ok());
  auto stub = fixture.Stub();
  struct Case {
    v1::GenerateRequest request;
    std::string message_start;
  };
  std::vector<Case> cases;
  cases.push_back({IdsRequest({1}, 0), "sampling.temperature: "});
  cases.back().request.mutable_sampling()->set_temperature(-1);
  cases.push_back({IdsRequest({1}, 0), "sampling.top_p: "});
  cases.back().request.mutable_sampling()->set_top_p(1.5f);
  cases.push_back({IdsRequest({1, 1000}, 0), "prompt.token_ids[1]: "});
  cases.push_back({IdsRequest({1}, 5000), "prompt: "});
  cases.push_back({v1::GenerateRequest(), "prompt: "});
  for (const Case& c : cases) {
    auto context = Context();
    StreamResult result = RunGenerate(stub.get(), c.request, context.get());
    EXPECT_EQ(result.status.error_code(), grpc::StatusCode::INVALID_ARGUMENT)
        << c.message_start << " " << result.status.error_message();
    EXPECT_TRUE(absl::StartsWith(result.status.error_message(), c.message_start))
        << result.status.error_message();
    EXPECT_TRUE(result.responses.empty());
  }
  // Text needs a tokenizer, which the tiny model lacks.
  v1::GenerateRequest text;
  text.set_text("hello");
  auto context = Context();
  StreamResult result = RunGenerate(stub.get(), text, context.get());
  EXPECT_EQ(result.status.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_TRUE(
      absl::StrContains(fixture.metrics().Render(), "moe_requests_total{outcome=\"invalid\"} 6"))
      << fixture.metrics().Render();
}

TEST(GrpcServiceTest, ClientCancelFreesTheRequest) {
  ServerFixture::Options options;
  options.step_delay = absl::Milliseconds(2);
  ServerFixture fixture(options);
  ASSERT_TRUE(fixture.ok());
  auto stub = fixture.Stub();
  auto context = Context();
  auto reader = stub->Generate(context.get(), IdsRequest({1, 2, 3}, 0));  // ~4093 tokens
  v1::GenerateResponse response;
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(reader->Read(&response));
  EXPECT_EQ(fixture.coordinator().active_requests(), 1);
  context->TryCancel();
  while (reader->Read(&response)) {
  }
  EXPECT_EQ(reader->Finish().error_code(), grpc::StatusCode::CANCELLED);
  EXPECT_TRUE(PollUntil([&] { return fixture.coordinator().active_requests() == 0; }));
  EXPECT_TRUE(PollUntil([&] {
    return absl::StrContains(fixture.metrics().Render(),
                             "moe_requests_total{outcome=\"cancelled\"} 1");
  })) << fixture.metrics().Render();
}

TEST(GrpcServiceTest, DeadlineCancelsTheRequest) {
  ServerFixture::Options options;
  options.step_delay = absl::Milliseconds(2);
  ServerFixture fixture(options);
  ASSERT_TRUE(fixture.ok());
  auto stub = fixture.Stub();
  auto context = Context(absl::Milliseconds(300));
  StreamResult result = RunGenerate(stub.get(), IdsRequest({1, 2, 3}, 0), context.get());
  EXPECT_EQ(result.status.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED);
  EXPECT_GT(result.tokens(), 0);
  EXPECT_LT(result.tokens(), 4093);
  EXPECT_TRUE(PollUntil([&] { return fixture.coordinator().active_requests() == 0; }));
}

TEST(GrpcServiceTest, FullQueueIsResourceExhausted) {
  ServerFixture::Options options;
  options.max_queued = 1;
  ServerFixture fixture(options);
  ASSERT_TRUE(fixture.ok());
  auto stub = fixture.Stub();
  fixture.executor().SetOpen(false);
  // A runs (its first step is held in the executor), B waits in the queue, C is refused.
  auto context_a = Context();
  auto reader_a = stub->Generate(context_a.get(), IdsRequest({1}, 2));
  ASSERT_TRUE(fixture.executor().WaitEntered(1));
  auto context_b = Context();
  auto reader_b = stub->Generate(context_b.get(), IdsRequest({2}, 2));
  ASSERT_TRUE(PollUntil([&] { return fixture.coordinator().active_requests() == 2; }));
  auto context_c = Context();
  StreamResult c = RunGenerate(stub.get(), IdsRequest({3}, 2), context_c.get());
  EXPECT_EQ(c.status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED)
      << c.status.error_message();
  fixture.executor().SetOpen(true);
  v1::GenerateResponse response;
  while (reader_a->Read(&response)) {
  }
  while (reader_b->Read(&response)) {
  }
  EXPECT_TRUE(reader_a->Finish().ok());
  EXPECT_TRUE(reader_b->Finish().ok());
  EXPECT_TRUE(
      absl::StrContains(fixture.metrics().Render(), "moe_requests_total{outcome=\"rejected\"} 1"));
}

TEST(GrpcServiceTest, ApiKeys) {
  auto keys = ApiKeys::Parse("good-key\n", "keys");
  ASSERT_TRUE(keys.ok());
  ServerFixture::Options options;
  options.grpc.api_keys = &*keys;
  ServerFixture fixture(options);
  ASSERT_TRUE(fixture.ok());
  auto stub = fixture.Stub();
  for (const char* header : {"", "Bearer bad-key", "good-key"}) {
    auto context = Context();
    if (*header != '\0') context->AddMetadata("authorization", header);
    StreamResult result = RunGenerate(stub.get(), IdsRequest({1}, 2), context.get());
    EXPECT_EQ(result.status.error_code(), grpc::StatusCode::UNAUTHENTICATED) << header;
    EXPECT_EQ(result.status.error_message(), "missing or invalid API key");
    auto info_context = Context();
    v1::ModelInfoResponse info;
    EXPECT_EQ(stub->ModelInfo(info_context.get(), v1::ModelInfoRequest(), &info).error_code(),
              grpc::StatusCode::UNAUTHENTICATED);
  }
  auto context = Context();
  context->AddMetadata("authorization", "Bearer good-key");
  StreamResult result = RunGenerate(stub.get(), IdsRequest({1}, 2), context.get());
  EXPECT_TRUE(result.status.ok()) << result.status.error_message();
  EXPECT_EQ(result.tokens(), 2);
  auto info_context = Context();
  info_context->AddMetadata("authorization", "Bearer good-key");
  v1::ModelInfoResponse info;
  EXPECT_TRUE(stub->ModelInfo(info_context.get(), v1::ModelInfoRequest(), &info).ok());
  EXPECT_EQ(info.model_id(), "tiny-qwen3-moe");
}

TEST(GrpcServiceTest, UnaryMethods) {
  ServerFixture fixture({});
  ASSERT_TRUE(fixture.ok());
  auto stub = fixture.Stub();
  auto context = Context();
  v1::ModelInfoResponse info;
  ASSERT_TRUE(stub->ModelInfo(context.get(), v1::ModelInfoRequest(), &info).ok());
  EXPECT_EQ(info.vocab_size(), 1000);
  EXPECT_EQ(info.max_model_len(), 4096);
  EXPECT_FALSE(info.has_tokenizer());
  v1::TokenizeRequest tokenize;
  tokenize.set_text("hello");
  v1::TokenizeResponse tokens;
  auto tokenize_context = Context();
  EXPECT_EQ(stub->Tokenize(tokenize_context.get(), tokenize, &tokens).error_code(),
            grpc::StatusCode::FAILED_PRECONDITION);
}

TEST(GrpcServiceTest, UnavailableWhileTheModelLoads) {
  ServerFixture::Options options;
  options.start_coordinator = false;
  ServerFixture fixture(options);
  ASSERT_TRUE(fixture.ok());
  auto stub = fixture.Stub();
  auto context = Context();
  StreamResult result = RunGenerate(stub.get(), IdsRequest({1}, 2), context.get());
  EXPECT_EQ(result.status.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_TRUE(absl::StrContains(result.status.error_message(), "loading"));
  auto info_context = Context();
  v1::ModelInfoResponse info;
  EXPECT_EQ(stub->ModelInfo(info_context.get(), v1::ModelInfoRequest(), &info).error_code(),
            grpc::StatusCode::UNAVAILABLE);
}

TEST(GrpcServiceTest, DrainingRefusesNewStreams) {
  ServerFixture fixture({});
  ASSERT_TRUE(fixture.ok());
  fixture.coordinator().Drain();
  auto stub = fixture.Stub();
  auto context = Context();
  StreamResult result = RunGenerate(stub.get(), IdsRequest({1}, 2), context.get());
  EXPECT_EQ(result.status.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_TRUE(absl::StrContains(result.status.error_message(), "draining"));
}

TEST(GrpcServiceTest, ShutdownEndsRunningStreams) {
  ServerFixture::Options options;
  options.step_delay = absl::Milliseconds(2);
  ServerFixture fixture(options);
  ASSERT_TRUE(fixture.ok());
  auto stub = fixture.Stub();
  auto context = Context();
  auto reader = stub->Generate(context.get(), IdsRequest({1, 2, 3}, 0));
  v1::GenerateResponse response;
  ASSERT_TRUE(reader->Read(&response));
  fixture.server().Shutdown(absl::Milliseconds(50));  // returns once every call is done
  while (reader->Read(&response)) {
  }
  EXPECT_FALSE(reader->Finish().ok());
  EXPECT_TRUE(PollUntil([&] { return fixture.coordinator().active_requests() == 0; }));
}

}  // namespace
}  // namespace moe::testing
