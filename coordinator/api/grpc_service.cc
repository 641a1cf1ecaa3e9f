#include "coordinator/api/grpc_service.h"

#include <chrono>
#include <deque>
#include <memory>
#include <optional>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "coordinator/api/grpc_status.h"
#include "coordinator/api/request_builder.h"
#include "coordinator/metrics/metrics.h"

namespace moe {
namespace {

// One Generate/Chat stream. gRPC owns a reference (`self_`, dropped in OnDone()); the
// coordinator owns another through a StreamCallSink, so whichever side finishes last frees the
// call and the coordinator never touches a deleted reactor.
//
// Writes: Push() queues a response and starts a write when none is in flight; OnWriteDone()
// starts the next. End() records the final status; Finish() is called once the queue has
// drained (or at once when the stream is broken). gRPC operations are started outside mu_, by
// the one thread that claimed them under mu_ (write_in_flight_ / finished_).
class StreamCall final : public grpc::ServerWriteReactor<v1::GenerateResponse> {
 public:
  StreamCall(Coordinator* coordinator, grpc::CallbackServerContext* context)
      : coordinator_(coordinator), context_(context) {}

  static std::shared_ptr<StreamCall> Create(Coordinator* coordinator,
                                            grpc::CallbackServerContext* context) {
    auto call = std::make_shared<StreamCall>(coordinator, context);
    call->self_ = call;
    return call;
  }

  // The coordinator accepted the request as `id`; a cancellation that came first applies now.
  void SetId(int64_t id) {
    bool cancel = false;
    {
      absl::MutexLock lock(&mu_);
      id_ = id;
      cancel = cancelled_ && !end_.has_value();
    }
    if (cancel) coordinator_->Cancel(id, CancelReason());
  }

  void Push(v1::GenerateResponse response) {
    {
      absl::MutexLock lock(&mu_);
      if (finished_ || end_.has_value()) return;
      if (write_in_flight_) {
        queue_.push_back(std::move(response));
        return;
      }
      write_in_flight_ = true;
      writing_ = std::move(response);
    }
    StartWrite(&writing_);
  }

  void End(const absl::Status& status) {
    grpc::Status finish;
    {
      absl::MutexLock lock(&mu_);
      if (end_.has_value()) return;
      end_ = status;
      if (write_in_flight_ || finished_) return;  // OnWriteDone finishes after the queue
      finished_ = true;
      finish = ToGrpcStatus(status);
    }
    Finish(finish);
  }

  void OnWriteDone(bool ok) override {
    bool start_next = false;
    bool do_finish = false;
    bool cancel = false;
    int64_t id = -1;
    grpc::Status finish;
    {
      absl::MutexLock lock(&mu_);
      write_in_flight_ = false;
      if (!ok) {
        // The stream is broken (client gone): drop the rest, stop the request, finish now.
        queue_.clear();
        cancel = id_ >= 0 && !end_.has_value();
        id = id_;
        if (!end_.has_value()) end_ = absl::CancelledError("the stream was broken");
        if (!finished_) {
          finished_ = true;
          do_finish = true;
          finish = ToGrpcStatus(*end_);
        }
      } else if (!queue_.empty()) {
        writing_ = std::move(queue_.front());
        queue_.pop_front();
        write_in_flight_ = start_next = true;
      } else if (end_.has_value() && !finished_) {
        finished_ = do_finish = true;
        finish = ToGrpcStatus(*end_);
      }
    }
    if (start_next) StartWrite(&writing_);
    if (cancel) coordinator_->Cancel(id, CancelReason());
    if (do_finish) Finish(finish);
  }

  void OnCancel() override {
    int64_t id = -1;
    {
      absl::MutexLock lock(&mu_);
      cancelled_ = true;
      if (id_ < 0 || end_.has_value()) return;
      id = id_;
    }
    // The coordinator ends the stream (OnDone(CANCELLED / DEADLINE_EXCEEDED) -> End()).
    coordinator_->Cancel(id, CancelReason());
  }

  void OnDone() override {
    std::shared_ptr<StreamCall> self = std::move(self_);  // may free *this on return
  }

 private:
  absl::Status CancelReason() const {
    if (context_->deadline() <= std::chrono::system_clock::now()) {
      return absl::DeadlineExceededError("the client's deadline passed");
    }
    return absl::CancelledError("cancelled by the client");
  }

  Coordinator* const coordinator_;
  grpc::CallbackServerContext* const context_;  // valid until OnDone()
  std::shared_ptr<StreamCall> self_;            // gRPC's reference

  absl::Mutex mu_;
  std::deque<v1::GenerateResponse> queue_ ABSL_GUARDED_BY(mu_);  // waiting behind writing_
  bool write_in_flight_ ABSL_GUARDED_BY(mu_) = false;
  std::optional<absl::Status> end_ ABSL_GUARDED_BY(mu_);  // how the stream ends, once known
  bool finished_ ABSL_GUARDED_BY(mu_) = false;            // Finish() called
  bool cancelled_ ABSL_GUARDED_BY(mu_) = false;           // OnCancel() seen
  int64_t id_ ABSL_GUARDED_BY(mu_) = -1;                  // the coordinator's id
  // The message being written: set by the thread that set write_in_flight_, read by gRPC
  // until OnWriteDone.
  v1::GenerateResponse writing_;
};

// The coordinator's handle on a StreamCall.
class StreamCallSink final : public StreamSink {
 public:
  explicit StreamCallSink(std::shared_ptr<StreamCall> call) : call_(std::move(call)) {}
  void OnResponse(v1::GenerateResponse response) override { call_->Push(std::move(response)); }
  void OnDone(const absl::Status& status) override { call_->End(status); }

 private:
  std::shared_ptr<StreamCall> call_;
};

}  // namespace

InferenceService::InferenceService(Coordinator* coordinator, const ApiKeys* api_keys,
                                   Metrics* metrics)
    : coordinator_(coordinator), api_keys_(api_keys), metrics_(metrics) {}

absl::Status InferenceService::Authenticate(grpc::CallbackServerContext* context) const {
  if (api_keys_ == nullptr || !api_keys_->enabled()) return absl::OkStatus();
  const auto& metadata = context->client_metadata();
  auto it = metadata.find("authorization");
  if (it != metadata.end() &&
      api_keys_->CheckAuthorization(absl::string_view(it->second.data(), it->second.size()))) {
    return absl::OkStatus();
  }
  return absl::UnauthenticatedError("missing or invalid API key");
}

absl::Status InferenceService::CheckModelLoaded() const {
  // ready() is set (with release order) after the served model was filled in; draining and
  // failed workers happen later, so the model is loaded then too.
  if (coordinator_->ready() || coordinator_->draining() || !coordinator_->healthy()) {
    return absl::OkStatus();
  }
  return absl::UnavailableError("the model is still loading: retry later");
}

absl::Status InferenceService::CheckAdmitting() const {
  if (coordinator_->ready()) return absl::OkStatus();
  if (!coordinator_->healthy()) return absl::UnavailableError("the workers were lost");
  if (coordinator_->draining()) return absl::UnavailableError("the server is draining");
  return absl::UnavailableError("the model is still loading: retry later");
}

void InferenceService::CountRefused(const char* outcome) const {
  if (metrics_ != nullptr) metrics_->RequestFinished(outcome);
}

grpc::ServerWriteReactor<v1::GenerateResponse>* InferenceService::StartStream(
    grpc::CallbackServerContext* context, absl::StatusOr<RequestParams> params) {
  std::shared_ptr<StreamCall> call = StreamCall::Create(coordinator_, context);
  if (!params.ok()) {
    const absl::StatusCode code = params.status().code();
    CountRefused(code == absl::StatusCode::kInvalidArgument ||
                         code == absl::StatusCode::kFailedPrecondition
                     ? "invalid"
                     : "rejected");
    call->End(params.status());
    return call.get();
  }
  absl::StatusOr<int64_t> id =
      coordinator_->Submit(std::move(params).value(), std::make_shared<StreamCallSink>(call));
  if (!id.ok()) {
    CountRefused("rejected");
    call->End(id.status());
    return call.get();
  }
  call->SetId(*id);
  return call.get();
}

grpc::ServerWriteReactor<v1::GenerateResponse>* InferenceService::Generate(
    grpc::CallbackServerContext* context, const v1::GenerateRequest* request) {
  absl::Status status = Authenticate(context);
  if (status.ok()) status = CheckAdmitting();
  if (!status.ok()) return StartStream(context, status);
  return StartStream(context, BuildGenerateRequest(coordinator_->model(), *request));
}

grpc::ServerWriteReactor<v1::GenerateResponse>* InferenceService::Chat(
    grpc::CallbackServerContext* context, const v1::ChatRequest* request) {
  absl::Status status = Authenticate(context);
  if (status.ok()) status = CheckAdmitting();
  if (!status.ok()) return StartStream(context, status);
  return StartStream(context, BuildChatRequest(coordinator_->model(), *request));
}

grpc::ServerUnaryReactor* InferenceService::Tokenize(grpc::CallbackServerContext* context,
                                                     const v1::TokenizeRequest* request,
                                                     v1::TokenizeResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  absl::Status status = Authenticate(context);
  if (status.ok()) status = CheckModelLoaded();
  if (status.ok()) {
    absl::StatusOr<v1::TokenizeResponse> result = moe::Tokenize(coordinator_->model(), *request);
    if (result.ok()) {
      *response = std::move(result).value();
    } else {
      status = result.status();
    }
  }
  reactor->Finish(ToGrpcStatus(status));
  return reactor;
}

grpc::ServerUnaryReactor* InferenceService::ModelInfo(grpc::CallbackServerContext* context,
                                                      const v1::ModelInfoRequest* request,
                                                      v1::ModelInfoResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  absl::Status status = Authenticate(context);
  if (status.ok()) status = CheckModelLoaded();
  if (status.ok()) *response = moe::ModelInfo(coordinator_->model());
  reactor->Finish(ToGrpcStatus(status));
  return reactor;
}

}  // namespace moe
