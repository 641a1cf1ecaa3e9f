#include "coordinator/http/openai_server.h"

#include <httplib.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <ctime>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/random/random.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/synchronization/mutex.h"
#include "common/json.h"
#include "coordinator/api/request_builder.h"
#include "coordinator/http/generation.h"
#include "coordinator/http/openai_convert.h"
#include "coordinator/http/openai_response.h"

namespace moe {
namespace {

using openai::Generation;
using openai::GenerationOptions;

constexpr char kJsonType[] = "application/json";
constexpr size_t kMaxBodyBytes = 64 << 20;
constexpr absl::Duration kPollInterval = absl::Milliseconds(100);

void SendJson(httplib::Response& res, int status, const Json& body) {
  res.status = status;
  res.set_content(openai::Dump(body), kJsonType);
}

void SendError(httplib::Response& res, const absl::Status& status) {
  SendJson(res, openai::HttpStatusFor(status), openai::ErrorBody(status));
}

// "cmpl-" + 32 random hex digits, like OpenAI's ids.
std::string NewId(const char* prefix) {
  thread_local absl::BitGen gen;
  return absl::StrFormat("%s%016x%016x", prefix, absl::Uniform<uint64_t>(gen),
                         absl::Uniform<uint64_t>(gen));
}

int64_t UnixNow() { return static_cast<int64_t>(std::time(nullptr)); }

}  // namespace

struct HttpServer::State {
  // Constant after Start().
  HttpServerOptions options;
  Coordinator* coordinator = nullptr;
  Metrics* metrics = nullptr;
  int64_t created = 0;  // /v1/models "created"
  std::unique_ptr<httplib::Server> server;
  int port = 0;

  std::atomic<bool> serving{true};    // SetServing()
  std::atomic<bool> stopping{false};  // ends non-streaming waits
  absl::Mutex mu;
  std::thread listener ABSL_GUARDED_BY(mu);

  void Record(const char* outcome) {
    if (metrics != nullptr) metrics->RequestFinished(outcome);
  }
  // An error before anything was submitted, counted as `outcome`.
  void Reject(httplib::Response& res, const absl::Status& status, const char* outcome) {
    Record(outcome);
    SendError(res, status);
  }

  absl::Status CheckModel(const std::string& requested) const {
    const std::string& served = coordinator->model().model_id;
    if (requested.empty() || requested == served) return absl::OkStatus();
    return absl::NotFoundError(absl::StrCat(
        "model: the model `", requested, "` does not exist (this server serves `", served, "`)"));
  }

  void AddRoutes();
  void Health(httplib::Response& res);
  void Models(httplib::Response& res);
  void Completions(const httplib::Request& req, httplib::Response& res);
  void ChatCompletions(const httplib::Request& req, httplib::Response& res);
  // Submits the choices and answers: the whole body, or an SSE stream.
  void Run(GenerationOptions options, std::vector<RequestParams> choices, bool stream,
           httplib::Response& res);
};

void HttpServer::State::Health(httplib::Response& res) {
  if (!serving.load()) {
    SendError(res, absl::UnavailableError("the model is loading"));
  } else if (!coordinator->healthy()) {
    SendError(res, absl::UnavailableError("the workers were lost"));
  } else if (coordinator->draining()) {
    SendError(res, absl::UnavailableError("the server is draining"));
  } else {
    res.status = 200;
  }
}

void HttpServer::State::Models(httplib::Response& res) {
  const ServedModel& model = coordinator->model();
  Json card = {{"id", model.model_id},
               {"object", "model"},
               {"created", created},
               {"owned_by", "moe-serve"},
               {"root", model.model_id},
               {"parent", nullptr},
               {"max_model_len", model.max_model_len},
               {"permission", Json::array()}};
  SendJson(res, 200, Json{{"object", "list"}, {"data", Json::array({std::move(card)})}});
}

void HttpServer::State::Completions(const httplib::Request& req, httplib::Response& res) {
  absl::StatusOr<Json> body = ParseJson(req.body, "body");
  if (!body.ok()) return Reject(res, body.status(), "invalid");
  absl::StatusOr<openai::CompletionRequest> request = openai::ParseCompletionRequest(*body);
  if (!request.ok()) return Reject(res, request.status(), "invalid");
  if (absl::Status s = CheckModel(request->model); !s.ok()) return Reject(res, s, "invalid");

  const ServedModel& model = coordinator->model();
  GenerationOptions options;
  options.meta = {NewId("cmpl-"), UnixNow(), model.model_id};
  options.n = request->n;
  options.logprobs = request->logprobs;
  options.include_usage = request->stream.include_usage;
  options.return_token_ids = request->return_token_ids;
  std::vector<RequestParams> choices;
  for (size_t p = 0; p < request->prompts.size(); ++p) {
    for (int i = 0; i < request->n; ++i) {
      v1::GenerateRequest one = request->prompts[p];
      *one.mutable_sampling() = openai::ChoiceSampling(one.sampling(), request->n, i);
      one.set_request_id(absl::StrCat(options.meta.id, "-", choices.size()));
      absl::StatusOr<RequestParams> params = BuildGenerateRequest(model, one);
      if (!params.ok()) return Reject(res, openai::ToOpenAiFields(params.status()), "invalid");
      if (request->echo && i == 0) {
        std::string echo = request->prompt_texts[p];
        if (one.has_token_ids() && model.tokenizer != nullptr) {
          echo = model.tokenizer->Decode(params->prompt, params->skip_special_tokens);
        }
        options.echo.push_back(std::move(echo));
      }
      choices.push_back(std::move(params).value());
    }
  }
  Run(std::move(options), std::move(choices), request->stream.stream, res);
}

void HttpServer::State::ChatCompletions(const httplib::Request& req, httplib::Response& res) {
  absl::StatusOr<Json> body = ParseJson(req.body, "body");
  if (!body.ok()) return Reject(res, body.status(), "invalid");
  absl::StatusOr<openai::ChatCompletionRequest> request = openai::ParseChatCompletionRequest(*body);
  if (!request.ok()) return Reject(res, request.status(), "invalid");
  if (absl::Status s = CheckModel(request->model); !s.ok()) return Reject(res, s, "invalid");

  const ServedModel& model = coordinator->model();
  GenerationOptions options;
  options.chat = true;
  options.meta = {NewId("chatcmpl-"), UnixNow(), model.model_id};
  options.n = request->n;
  options.logprobs = request->logprobs ? request->top_logprobs : -1;
  options.include_usage = request->stream.include_usage;
  options.return_token_ids = request->return_token_ids;
  options.tokenizer = model.tokenizer.get();
  options.split_reasoning = this->options.split_reasoning;
  std::vector<RequestParams> choices;
  for (int i = 0; i < request->n; ++i) {
    v1::ChatRequest one = request->chat;
    *one.mutable_sampling() = openai::ChoiceSampling(one.sampling(), request->n, i);
    one.set_request_id(absl::StrCat(options.meta.id, "-", i));
    absl::StatusOr<RequestParams> params = BuildChatRequest(model, one);
    if (!params.ok()) return Reject(res, openai::ToOpenAiFields(params.status()), "invalid");
    choices.push_back(std::move(params).value());
  }
  Run(std::move(options), std::move(choices), request->stream.stream, res);
}

void HttpServer::State::Run(GenerationOptions options, std::vector<RequestParams> choices,
                            bool stream, httplib::Response& res) {
  auto generation = std::make_shared<Generation>(coordinator, std::move(options));
  if (absl::Status s = generation->Submit(std::move(choices)); !s.ok()) {
    return Reject(res, s, "rejected");
  }
  if (!stream) {
    absl::StatusOr<Json> body = generation->Collect(stopping);
    if (!body.ok()) return SendError(res, body.status());
    return SendJson(res, 200, *body);
  }
  res.set_header("Cache-Control", "no-cache");
  res.set_header("X-Accel-Buffering", "no");
  // Runs on this connection's thread after the headers are sent; a failed write means the
  // client is gone: cancel (the releaser covers a server stop between calls).
  res.set_chunked_content_provider(
      "text/event-stream",
      [generation](size_t /*offset*/, httplib::DataSink& sink) {
        std::string events = generation->NextEvents(kPollInterval);
        if (!events.empty() && !sink.write(events.data(), events.size())) {
          generation->Cancel();
          return false;
        }
        if (generation->finished()) sink.done();
        return true;
      },
      [generation](bool /*success*/) { generation->Cancel(); });
}

void HttpServer::State::AddRoutes() {
  httplib::Server& s = *server;
  s.Get("/health", [this](const httplib::Request&, httplib::Response& res) { Health(res); });
  s.Get("/metrics", [this](const httplib::Request&, httplib::Response& res) {
    res.set_content(metrics != nullptr ? metrics->Render() : std::string(),
                    "text/plain; version=0.0.4; charset=utf-8");
  });
  s.Get("/v1/models", [this](const httplib::Request&, httplib::Response& res) { Models(res); });
  s.Post("/v1/completions",
         [this](const httplib::Request& req, httplib::Response& res) { Completions(req, res); });
  s.Post("/v1/chat/completions", [this](const httplib::Request& req, httplib::Response& res) {
    ChatCompletions(req, res);
  });

  // API keys guard everything under /v1, which also waits until the model is served.
  s.set_pre_routing_handler([this](const httplib::Request& req, httplib::Response& res) {
    if (!absl::StartsWith(req.path, "/v1")) return httplib::Server::HandlerResponse::Unhandled;
    const ApiKeys* keys = options.api_keys;
    if (keys != nullptr && keys->enabled() &&
        !keys->CheckAuthorization(req.get_header_value("Authorization"))) {
      SendError(res, absl::UnauthenticatedError(
                         "missing or invalid API key: send \"Authorization: Bearer <key>\""));
      return httplib::Server::HandlerResponse::Handled;
    }
    if (!serving.load()) {
      SendError(res, absl::UnavailableError("the model is loading: retry later"));
      return httplib::Server::HandlerResponse::Handled;
    }
    return httplib::Server::HandlerResponse::Unhandled;
  });
  // Error statuses without a body (no route, httplib's own 400 / 413): an OpenAI-style body.
  s.set_error_handler(httplib::Server::HandlerWithResponse([](const httplib::Request& req,
                                                              httplib::Response& res) {
    if (!res.body.empty()) return httplib::Server::HandlerResponse::Unhandled;
    const bool not_found = res.status == 404;
    const std::string message = not_found ? absl::StrCat("no route for ", req.method, " ", req.path)
                                          : absl::StrCat("HTTP error ", res.status);
    Json error = {{"message", message},
                  {"type", not_found ? "NotFoundError" : "BadRequestError"},
                  {"param", nullptr},
                  {"code", res.status}};
    res.set_content(openai::Dump(Json{{"error", std::move(error)}}), kJsonType);
    return httplib::Server::HandlerResponse::Handled;
  }));
  s.set_exception_handler(
      [](const httplib::Request&, httplib::Response& res, std::exception_ptr ep) {
        std::string what = "unknown exception";
        try {
          std::rethrow_exception(ep);
        } catch (const std::exception& e) {
          what = e.what();
        } catch (...) {
        }
        SendError(res, absl::InternalError(absl::StrCat("internal error: ", what)));
      });
}

absl::StatusOr<std::unique_ptr<HttpServer>> HttpServer::Start(const HttpServerOptions& options,
                                                              Coordinator* coordinator,
                                                              Metrics* metrics) {
  if (options.tls_cert_file.empty() != options.tls_key_file.empty()) {
    return absl::InvalidArgumentError("HTTP TLS needs both a certificate and a private key");
  }
  if (options.num_threads < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("HTTP num_threads: must be >= 1, got ", options.num_threads));
  }
  auto state = std::make_unique<State>();
  state->options = options;
  state->coordinator = coordinator;
  state->metrics = metrics;
  state->created = UnixNow();
  if (!options.tls_cert_file.empty()) {
    state->server = std::make_unique<httplib::SSLServer>(options.tls_cert_file.c_str(),
                                                         options.tls_key_file.c_str());
    if (!state->server->is_valid()) {
      return absl::InvalidArgumentError(absl::StrCat("cannot load the HTTP TLS certificate ",
                                                     options.tls_cert_file, " and key ",
                                                     options.tls_key_file));
    }
  } else {
    state->server = std::make_unique<httplib::Server>();
  }
  const size_t threads = static_cast<size_t>(options.num_threads);
  state->server->new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
  state->server->set_payload_max_length(kMaxBodyBytes);
  state->server->set_tcp_nodelay(true);
  state->AddRoutes();

  std::signal(SIGPIPE, SIG_IGN);
  if (options.port == 0) {
    state->port = state->server->bind_to_any_port(options.host);
  } else if (state->server->bind_to_port(options.host, options.port)) {
    state->port = options.port;
  }
  if (state->port <= 0) {
    return absl::UnavailableError(
        absl::StrCat("HTTP: cannot listen on ", options.host, ":", options.port));
  }
  {
    absl::MutexLock lock(&state->mu);
    httplib::Server* server = state->server.get();
    state->listener = std::thread([server] { server->listen_after_bind(); });
  }
  // stop() is a no-op until the listener runs: wait for it, so that Shutdown() always works.
  for (int i = 0; i < 10000 && !state->server->is_running(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return std::unique_ptr<HttpServer>(new HttpServer(std::move(state)));
}

HttpServer::HttpServer(std::unique_ptr<State> state) : state_(std::move(state)) {}

HttpServer::~HttpServer() { Shutdown(); }

int HttpServer::port() const { return state_->port; }

void HttpServer::SetServing(bool serving) { state_->serving.store(serving); }

void HttpServer::Shutdown() {
  absl::MutexLock lock(&state_->mu);
  if (!state_->listener.joinable()) return;
  state_->stopping.store(true);
  state_->server->stop();
  state_->listener.join();
}

}  // namespace moe
