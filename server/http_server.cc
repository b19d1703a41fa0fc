#include "server/http_server.h"

#include <httplib.h>
#include <sys/socket.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <deque>
#include <mutex>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "engine/core/status.h"
#include "server/openai_protocol.h"

namespace favor::server {

// What passes between a request's scheduler callbacks and its HTTP thread: released text, then
// the end.
struct HttpServer::Exchange {
  std::mutex mutex;
  std::condition_variable changed;
  std::deque<std::string> texts;
  std::optional<absl::StatusOr<JobResult>> done;
  std::atomic<bool> client_gone{false};

  void Push(const std::string& text) {
    {
      std::lock_guard lock(mutex);
      texts.push_back(text);
    }
    changed.notify_all();
  }
  void Finish(absl::StatusOr<JobResult> result) {
    {
      std::lock_guard lock(mutex);
      done = std::move(result);
    }
    changed.notify_all();
  }
};

// One completion response from its request's arrival until httplib has written all of it: the
// content provider holds it, and httplib destroys the provider with the response once written.
class HttpServer::OpenResponse {
 public:
  explicit OpenResponse(HttpServer& server) : server_(server) {
    std::lock_guard lock(server_.responses_mutex_);
    ++server_.open_responses_;
  }
  OpenResponse(const OpenResponse&) = delete;
  OpenResponse& operator=(const OpenResponse&) = delete;
  ~OpenResponse() {
    {
      std::lock_guard lock(server_.responses_mutex_);
      --server_.open_responses_;
    }
    server_.responses_changed_.notify_all();
  }

 private:
  HttpServer& server_;
};

namespace {

constexpr const char* kJson = "application/json";

void SendError(httplib::Response& response, const absl::Status& status) {
  const ApiError error = ErrorFor(status);
  response.status = error.http_status;
  if (error.http_status == 503) response.set_header("Retry-After", "1");
  response.set_content(ErrorBody(error), kJson);
}

Usage UsageOf(const JobResult& result) {
  return {.prompt_tokens = result.generation.prompt_tokens,
          .completion_tokens = static_cast<int64_t>(result.generation.tokens.size()),
          .cached_tokens = result.cached_tokens};
}

Timings TimingsOf(const JobResult& result) {
  return {.prompt_ms = 1000 * result.generation.prompt_seconds,
          .predicted_ms = 1000 * result.generation.generation_seconds,
          .attention = result.attention,
          .state_bytes = result.state_bytes};
}

std::string Event(const std::string& data) { return absl::StrCat("data: ", data, "\n\n"); }

}  // namespace

HttpServer::HttpServer(const runtime::Model& model, const chat::ChatTemplate* chat_template,
                       Scheduler& scheduler, Metrics& metrics, HttpOptions options)
    : model_(model),
      template_(chat_template),
      scheduler_(scheduler),
      metrics_(metrics),
      options_(std::move(options)),
      http_(std::make_unique<httplib::Server>()),
      created_(std::chrono::duration_cast<std::chrono::seconds>(
                   std::chrono::system_clock::now().time_since_epoch())
                   .count()) {
  Routes();
}

HttpServer::~HttpServer() = default;

absl::StatusOr<std::vector<int32_t>> HttpServer::PromptTokens(
    const CompletionRequest& request) const {
  const text::Tokenizer& tokenizer = model_.tokenizer();
  if (request.endpoint == Endpoint::kChatCompletions) {
    if (template_ == nullptr) {
      return absl::InvalidArgumentError(
          "the model has no chat template: start the server with --chat-template NAME, or use "
          "/v1/completions");
    }
    FAVOR_ASSIGN_OR_RETURN(const std::string prompt, template_->Apply(request.messages, true));
    // Templates that print the BOS text get no second one.
    const bool add_bos =
        tokenizer.add_bos() && !absl::StartsWith(prompt, tokenizer.IdToPiece(tokenizer.bos_id()));
    return tokenizer.Encode(prompt, {.add_bos = add_bos, .parse_special = true});
  }
  if (request.prompt.has_value()) {
    return tokenizer.Encode(*request.prompt,
                            {.add_bos = tokenizer.add_bos(), .parse_special = true});
  }
  return request.prompt_tokens;
}

void HttpServer::Routes() {
  httplib::Server& http = *http_;
  http.set_payload_max_length(static_cast<size_t>(options_.max_body_bytes));
  const int threads = std::max(options_.threads, 2);
  http.new_task_queue = [threads] { return new httplib::ThreadPool(static_cast<size_t>(threads)); };
  // Debian's build of cpp-httplib listens with a backlog of 5: a burst of more connections than
  // that overflows the accept queue (clients stall a second or fail). The socket it makes is
  // noted here, with its default options, and listens again with a real backlog in Bind.
  http.set_socket_options([this](socket_t socket) {
    httplib::default_socket_options(socket);
    listen_socket_ = socket;
  });
  http.set_read_timeout(60);
  http.set_write_timeout(60);

  http.set_pre_routing_handler(
      [this](const httplib::Request& request, httplib::Response& response) {
        const bool guarded = request.path != "/health";
        if (options_.api_key.empty() || !guarded)
          return httplib::Server::HandlerResponse::Unhandled;
        if (request.get_header_value("Authorization") == "Bearer " + options_.api_key) {
          return httplib::Server::HandlerResponse::Unhandled;
        }
        SendError(response, absl::UnauthenticatedError(
                                "a valid API key is required: send 'Authorization: Bearer KEY'"));
        metrics_.CountRequest(request.path, response.status);
        return httplib::Server::HandlerResponse::Handled;
      });
  // Errors httplib raises itself (unknown route, body too large, bad HTTP) get OpenAI's shape.
  http.set_error_handler([](const httplib::Request& request, httplib::Response& response) {
    if (!response.body.empty()) return;
    const int status = response.status;
    std::string message = status == 404
                              ? absl::StrCat("no route ", request.method, " ", request.path)
                          : status == 413 ? std::string("the request body is too large")
                                          : absl::StrCat("HTTP error ", status);
    const ApiError error{.http_status = status,
                         .type = "invalid_request_error",
                         .code = status == 404 ? "not_found" : "",
                         .message = std::move(message)};
    response.set_content(ErrorBody(error), kJson);
  });
  http.set_exception_handler(
      [](const httplib::Request&, httplib::Response& response, std::exception_ptr) {
        SendError(response, absl::InternalError("the server failed on this request"));
      });
  if (options_.log_requests) {
    http.set_logger([](const httplib::Request& request, const httplib::Response& response) {
      std::fprintf(stderr, "favor serve: %s %s %d\n", request.method.c_str(), request.path.c_str(),
                   response.status);
    });
  }

  http.Get("/health", [this](const httplib::Request&, httplib::Response& response) {
    response.status = 200;
    response.set_content("{\"status\":\"ok\"}", kJson);
    metrics_.CountRequest("/health", response.status);
  });
  http.Get("/metrics", [this](const httplib::Request&, httplib::Response& response) {
    response.set_content(metrics_.Render(), "text/plain; version=0.0.4");
  });
  http.Get("/v1/models", [this](const httplib::Request&, httplib::Response& response) {
    response.status = 200;
    response.set_content(ModelsResponse(options_.model_name, created_, model_.config().max_seq_len,
                                        model_.config().vocab_size),
                         kJson);
    metrics_.CountRequest("/v1/models", response.status);
  });

  auto completions = [this](Endpoint endpoint, const char* path) {
    return [this, endpoint, path](const httplib::Request& http_request,
                                  httplib::Response& response) {
      auto open = std::make_shared<OpenResponse>(*this);
      auto fail = [&](const absl::Status& status) {
        SendError(response, status);
        metrics_.CountRequest(path, response.status);
      };
      auto request = ParseCompletionRequest(endpoint, http_request.body);
      if (!request.ok()) return fail(request.status());
      if (!request->model.empty() && request->model != options_.model_name) {
        return fail(absl::NotFoundError(absl::StrCat("model '", request->model,
                                                     "' not found; this server serves '",
                                                     options_.model_name, "'")));
      }
      auto prompt = PromptTokens(*request);
      if (!prompt.ok()) return fail(prompt.status());
      auto exchange = std::make_shared<Exchange>();
      Job job;
      job.prompt = *std::move(prompt);
      job.generation = ToGenerationOptions(*request, options_.defaults);
      job.attention = request->attention;
      job.on_token = [exchange](int32_t, const std::string& text) {
        if (!text.empty()) exchange->Push(text);
        return !exchange->client_gone.load();
      };
      job.on_done = [exchange](absl::StatusOr<JobResult> result) {
        exchange->Finish(std::move(result));
      };
      const auto id = scheduler_.Submit(std::move(job));
      if (!id.ok()) return fail(id.status());

      const ResponseHeader header{
          .endpoint = endpoint,
          .id = absl::StrFormat("%s-%x%06x",
                                endpoint == Endpoint::kChatCompletions ? "chatcmpl" : "cmpl",
                                created_, next_id_.fetch_add(1)),
          .created = created_,
          .model = options_.model_name};
      // An error before any text (a prompt past the context, a full queue) is a plain HTTP
      // error; once text comes the status is 200, and a later error is in the body (an error
      // event, or an error object in place of the response).
      {
        std::unique_lock lock(exchange->mutex);
        exchange->changed.wait(
            lock, [&] { return !exchange->texts.empty() || exchange->done.has_value(); });
        if (exchange->texts.empty() && !exchange->done->ok()) {
          const absl::Status status = exchange->done->status();
          lock.unlock();
          return fail(status);
        }
      }
      metrics_.CountRequest(path, 200);
      const uint64_t job_id = *id;
      if (!request->stream) {
        // The whole response at the end, as one chunk. Until then, a space each second (JSON
        // allows it before the body) finds out whether the client is still there: one that
        // went away is cancelled and its slot freed, as with streaming.
        response.set_chunked_content_provider(
            kJson, [this, exchange, header, job_id, open](size_t, httplib::DataSink& sink) {
              std::optional<absl::StatusOr<JobResult>> done;
              {
                std::unique_lock lock(exchange->mutex);
                exchange->changed.wait_for(lock, std::chrono::seconds(1),
                                           [&] { return exchange->done.has_value(); });
                exchange->texts.clear();
                if (exchange->done.has_value()) done = std::move(exchange->done);
              }
              if (!done.has_value()) {
                if (sink.write(" ", 1)) return true;
                exchange->client_gone = true;
                scheduler_.Cancel(job_id);
                return false;
              }
              const std::string body =
                  done->ok()
                      ? CompletionResponse(
                            header, (*done)->generation, UsageOf(**done), TimingsOf(**done),
                            [this](int32_t token) { return model_.tokenizer().TokenText(token); })
                      : ErrorBody(ErrorFor(done->status()));
              sink.write(body.data(), body.size());
              sink.done();
              return true;
            });
        return;
      }
      response.set_header("Cache-Control", "no-cache");
      response.set_header("X-Accel-Buffering", "no");  // nginx: pass events on as they come.
      const bool include_usage = request->include_usage;
      auto first = std::make_shared<bool>(true);
      response.set_chunked_content_provider(
          "text/event-stream", [this, exchange, header, include_usage, job_id, first, open](
                                   size_t, httplib::DataSink& sink) {
            std::deque<std::string> texts;
            std::optional<absl::StatusOr<JobResult>> done;
            {
              std::unique_lock lock(exchange->mutex);
              exchange->changed.wait_for(lock, std::chrono::milliseconds(200), [&] {
                return !exchange->texts.empty() || exchange->done.has_value();
              });
              texts.swap(exchange->texts);
              if (exchange->done.has_value()) done = std::move(exchange->done);
            }
            auto send = [&](const std::string& data) {
              const std::string event = Event(data);
              return sink.write(event.data(), event.size());
            };
            auto gone = [&] {
              exchange->client_gone = true;
              scheduler_.Cancel(job_id);
              return false;
            };
            if (texts.empty() && !done.has_value() && !sink.is_writable()) return gone();
            for (const std::string& text : texts) {
              if (!send(StreamChunk(header, text, *first, nullptr))) return gone();
              *first = false;
            }
            if (!done.has_value()) return true;
            if (!done->ok()) {
              send(ErrorBody(ErrorFor(done->status())));
            } else {
              if (!send(StreamChunk(header, "", *first, FinishReason((*done)->generation.stop)))) {
                return gone();
              }
              if (include_usage) send(UsageChunk(header, UsageOf(**done), TimingsOf(**done)));
            }
            const std::string end = "data: [DONE]\n\n";
            sink.write(end.data(), end.size());
            sink.done();
            return true;
          });
    };
  };
  http.Post("/v1/chat/completions",
            completions(Endpoint::kChatCompletions, "/v1/chat/completions"));
  http.Post("/v1/completions", completions(Endpoint::kCompletions, "/v1/completions"));
  // Without the /v1 prefix too, as llama-server and many clients' base URLs have it.
  http.Post("/chat/completions", completions(Endpoint::kChatCompletions, "/v1/chat/completions"));
  http.Post("/completions", completions(Endpoint::kCompletions, "/v1/completions"));
}

absl::StatusOr<int> HttpServer::Bind() {
  int port = options_.port;
  if (port == 0) {
    port = http_->bind_to_any_port(options_.host);
    if (port <= 0) {
      return absl::UnavailableError(absl::StrCat("cannot listen on ", options_.host));
    }
  } else if (!http_->bind_to_port(options_.host, port)) {
    return absl::UnavailableError(absl::StrCat("cannot listen on ", options_.host, ":", port,
                                               " (in use, or not an address of this machine)"));
  }
  if (listen_socket_ >= 0) ::listen(listen_socket_, SOMAXCONN);
  return port;
}

void HttpServer::Serve() { http_->listen_after_bind(); }

void HttpServer::Stop(std::chrono::steady_clock::time_point deadline) {
  {
    std::unique_lock lock(responses_mutex_);
    responses_changed_.wait_until(lock, deadline, [&] { return open_responses_ == 0; });
  }
  http_->stop();
}

}  // namespace favor::server
