// favor serve's HTTP front: the OpenAI-compatible routes on cpp-httplib, each request parsed
// (openai_protocol), turned into tokens (chat template, tokenizer) and handed to the Scheduler;
// the HTTP thread then waits for its text and writes it, whole or as server-sent events.
//
// Routes: POST /v1/chat/completions, POST /v1/completions, GET /v1/models, GET /health,
// GET /metrics (and the POST routes without /v1, as llama-server has them). With an API key,
// every route but /health needs "Authorization: Bearer KEY".
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>

#include "absl/status/statusor.h"
#include "engine/chat/chat_template.h"
#include "engine/runtime/generation.h"
#include "engine/runtime/model.h"
#include "server/metrics.h"
#include "server/scheduler.h"

namespace httplib {
class Server;
}

namespace favor::server {

struct HttpOptions {
  std::string host = "127.0.0.1";
  int port = 8080;  // 0: any free port (Bind returns it).
  std::string api_key;
  std::string model_name;  // What /v1/models lists and responses name.
  int64_t max_body_bytes = 8 << 20;
  int threads = 16;  // HTTP threads: each streaming response holds one while it runs.
  runtime::GenerationOptions defaults;  // Sampling and limits a request does not set.
  bool log_requests = false;
};

class HttpServer {
 public:
  // `chat_template` may be null (then chat completions are refused with a message saying how to
  // choose one). Everything passed must outlive the server.
  HttpServer(const runtime::Model& model, const chat::ChatTemplate* chat_template,
             Scheduler& scheduler, Metrics& metrics, HttpOptions options);
  ~HttpServer();

  // Binds the address; returns the port.
  absl::StatusOr<int> Bind();
  // Serves until Stop (from another thread).
  void Serve();
  // Waits until every completion response has been written to the end (at most until
  // `deadline`), then stops: httplib cuts the streams still open when it stops, so a graceful
  // shutdown drains the scheduler first and then lets the HTTP threads send the final events.
  void Stop(std::chrono::steady_clock::time_point deadline = std::chrono::steady_clock::now());

 private:
  struct Exchange;
  class OpenResponse;
  void Routes();
  absl::StatusOr<std::vector<int32_t>> PromptTokens(const struct CompletionRequest& request) const;

  const runtime::Model& model_;
  const chat::ChatTemplate* template_;
  Scheduler& scheduler_;
  Metrics& metrics_;
  HttpOptions options_;
  std::unique_ptr<httplib::Server> http_;
  int64_t created_ = 0;
  std::atomic<uint64_t> next_id_{1};
  int listen_socket_ = -1;
  // Completion responses not yet written to the end (OpenResponse counts them).
  std::mutex responses_mutex_;
  std::condition_variable responses_changed_;
  int open_responses_ = 0;
};

}  // namespace favor::server
