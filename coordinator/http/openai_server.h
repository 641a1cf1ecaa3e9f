// The OpenAI-compatible HTTP API (cpp-httplib), on its own port beside gRPC:
//   GET  /health               200 when serving (SetServing), the workers are up and the
//                              server is not draining, else 503 (no API key needed)
//   GET  /metrics              Prometheus text format (no API key needed)
//   GET  /v1/models            the served model
//   POST /v1/completions       prompt text or token ids; streaming (SSE) or not
//   POST /v1/chat/completions  messages through the chat template; streaming (SSE) or not
// Everything under /v1 needs "Authorization: Bearer <key>" when API keys are enabled (401
// otherwise). Errors are OpenAI-style bodies {"error": {message, type, param, code}}.
//
// Thread-safety: Start() serves on internal threads (a listener plus a pool of
// `num_threads` connection threads; each streaming request holds one for its duration).
// Shutdown() may be called from any thread, once or more. The coordinator and the metrics
// (and `api_keys`) must outlive the server. Start() ignores SIGPIPE process-wide: a client
// that hangs up mid-stream must not end the process.
#pragma once

#include <memory>
#include <string>

#include "common/status.h"
#include "coordinator/api/auth.h"
#include "coordinator/core/coordinator.h"
#include "coordinator/metrics/metrics.h"

namespace moe {

struct HttpServerOptions {
  std::string host = "0.0.0.0";
  int port = 8000;  // 0: pick a free port
  // Both set: HTTPS with this certificate chain and private key (PEM files).
  std::string tls_cert_file;
  std::string tls_key_file;
  const ApiKeys* api_keys = nullptr;  // null or !enabled(): open
  int num_threads = 64;               // connections served at once
  // Chat responses split "<think>...</think>" into reasoning_content (vLLM's
  // --reasoning-parser qwen3; see reasoning.h).
  bool split_reasoning = false;
};

class HttpServer {
 public:
  // Binds and starts serving. INVALID_ARGUMENT for a half-given or unreadable TLS pair,
  // UNAVAILABLE when the address cannot be bound. `metrics` may be null (/metrics is then
  // empty).
  static absl::StatusOr<std::unique_ptr<HttpServer>> Start(const HttpServerOptions& options,
                                                           Coordinator* coordinator,
                                                           Metrics* metrics);
  ~HttpServer();  // Shutdown()s

  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  int port() const;  // the bound port (the chosen one when options.port was 0)

  // While not serving (e.g. the weights are still loading and the ServedModel is being
  // filled in), /health answers 503 and everything under /v1 answers 503 without touching
  // the coordinator's model. A server starts serving; call SetServing(false) right after
  // Start() when the model is not ready yet, and SetServing(true) once it is.
  void SetServing(bool serving);

  // Stops accepting, ends open streams (their requests are cancelled), joins the threads.
  void Shutdown();

 private:
  struct State;
  explicit HttpServer(std::unique_ptr<State> state);
  std::unique_ptr<State> state_;
};

}  // namespace moe
