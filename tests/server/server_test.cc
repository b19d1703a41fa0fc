// favor serve's HTTP server in-process on loopback, driven by an HTTP client as tools drive it:
// concurrent requests each get what favor generate gives them alone; streams add up to the whole
// response; errors are OpenAI error objects with the right status; a full queue answers 503, a
// client that goes away frees its slot; and a bounded load test loses nothing.
#include "server/http_server.h"

#include <httplib.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <functional>
#include <nlohmann/json.hpp>
#include <thread>
#include <vector>

#include "engine/runtime/generation.h"
#include "engine/runtime/session.h"
#include "gtest/gtest.h"
#include "tests/test_util.h"

namespace favor::server {
namespace {

using Json = nlohmann::ordered_json;

struct ServerSetup {
  int parallel = 4;
  int queue = 64;
  int64_t context = 256;
  std::string api_key;
  int64_t max_body_bytes = 1 << 20;
  AttentionSpec attention;
};

// A model, a scheduler and an HTTP server on a free loopback port, serving on its own thread.
class TestServer {
 public:
  explicit TestServer(const ServerSetup& setup = {}) {
    model_ = runtime::Model::Load(testing::ModelsDir() + "/tinystories-656K").value();
    chat_template_ = chat::ChatTemplate::Named("chatml", "", "").value();
    scheduler_ = Scheduler::Create(*model_, "tinystories-656K", setup.attention,
                                   {.parallel = setup.parallel,
                                    .context = setup.context,
                                    .threads = 2,
                                    .max_queue = setup.queue},
                                   &metrics_)
                     .value();
    HttpOptions options;
    options.port = 0;
    options.model_name = "tiny";
    options.api_key = setup.api_key;
    options.max_body_bytes = setup.max_body_bytes;
    options.threads = 32;
    options.defaults.max_tokens = 16;
    http_ = std::make_unique<HttpServer>(*model_, &*chat_template_, *scheduler_, metrics_, options);
    port_ = http_->Bind().value();
    thread_ = std::thread([this] { http_->Serve(); });
  }
  ~TestServer() {
    http_->Stop();
    thread_.join();
  }

  httplib::Client Client() const {
    httplib::Client client("127.0.0.1", port_);
    client.set_read_timeout(120);
    return client;
  }
  const runtime::Model& model() const { return *model_; }
  Metrics& metrics() { return metrics_; }
  int port() const { return port_; }

 private:
  std::unique_ptr<runtime::Model> model_;
  std::optional<chat::ChatTemplate> chat_template_;
  Metrics metrics_;
  std::unique_ptr<Scheduler> scheduler_;
  std::unique_ptr<HttpServer> http_;
  int port_ = 0;
  std::thread thread_;
};

// What favor generate gives the same prompt alone: greedy, `tokens` tokens.
std::string GenerateAlone(const runtime::Model& model, const std::string& prompt, int64_t tokens,
                          const AttentionSpec& attention = {}) {
  const auto variant = model.Variant(attention).value();
  auto session = runtime::Session::Create(variant, {.context = 256, .threads = 2}).value();
  const auto ids =
      model.tokenizer().Encode(prompt, {.add_bos = true, .parse_special = true}).value();
  runtime::GenerationOptions options;
  options.sampling.temperature = 0;
  options.max_tokens = tokens;
  return runtime::Generate(*session, model.tokenizer(), ids, options).value().text;
}

// A POST whose response body is handed to `receive` as it arrives (server-sent events).
httplib::Result PostStreaming(httplib::Client& client, const std::string& path,
                              const std::string& body,
                              std::function<bool(const char*, size_t)> receive) {
  httplib::Request request;
  request.method = "POST";
  request.path = path;
  request.body = body;
  request.set_header("Content-Type", "application/json");
  request.content_receiver = [receive](const char* data, size_t length, uint64_t, uint64_t) {
    return receive(data, length);
  };
  return client.send(request);
}

Json Post(httplib::Client& client, const std::string& path, const Json& body, int* status) {
  const auto response = client.Post(path, body.dump(), "application/json");
  if (!response) {
    *status = -1;
    return {{"client_error", httplib::to_string(response.error())}};
  }
  *status = response->status;
  return Json::parse(response->body, nullptr, false);
}

const char* const kStories[] = {"Once upon a time",
                                "Tom had a red ball.",
                                "The sun was shining",
                                "One day, a little dog",
                                "Lily and Ben went to the park.",
                                "There was a big tree",
                                "The cat sat on the mat.",
                                "Mom said"};

TEST(Serve, ConcurrentRequestsEachGetWhatGenerateGivesThemAlone) {
  FAVOR_REQUIRE_MODELS();
  TestServer server({.parallel = 3});
  std::vector<std::string> texts(std::size(kStories));
  std::vector<std::thread> clients;
  for (size_t i = 0; i < std::size(kStories); ++i) {
    clients.emplace_back([&, i] {
      httplib::Client client = server.Client();
      int status = 0;
      const Json body = Post(client, "/v1/completions",
                             {{"prompt", kStories[i]},
                              {"max_tokens", 12 + static_cast<int>(i)},
                              {"temperature", 0},
                              {"ignore_eos", true}},
                             &status);
      ASSERT_EQ(status, 200) << body.dump();
      EXPECT_EQ(body["usage"]["completion_tokens"], 12 + static_cast<int>(i));
      EXPECT_EQ(body["choices"][0]["finish_reason"], "length");
      texts[i] = body["choices"][0]["text"].get<std::string>();
    });
  }
  for (auto& client : clients) client.join();
  for (size_t i = 0; i < std::size(kStories); ++i) {
    // ignore_eos: generate alone also samples through end-of-generation text.
    const auto ids = server.model()
                         .tokenizer()
                         .Encode(kStories[i], {.add_bos = true, .parse_special = true})
                         .value();
    auto session =
        runtime::Session::Create(server.model().exact(), {.context = 256, .threads = 2}).value();
    runtime::GenerationOptions options;
    options.sampling.temperature = 0;
    options.max_tokens = 12 + static_cast<int>(i);
    options.stop_at_eos = false;
    EXPECT_EQ(texts[i],
              runtime::Generate(*session, server.model().tokenizer(), ids, options).value().text)
        << kStories[i];
  }
}

TEST(Serve, AStreamAddsUpToTheWholeResponse) {
  FAVOR_REQUIRE_MODELS();
  TestServer server;
  httplib::Client client = server.Client();
  const Json request = {{"messages", {{{"role", "user"}, {"content", "Once upon a time"}}}},
                        {"max_tokens", 20},
                        {"temperature", 0}};
  int status = 0;
  const Json whole = Post(client, "/v1/chat/completions", request, &status);
  ASSERT_EQ(status, 200) << whole.dump();
  Json streaming = request;
  streaming["stream"] = true;
  streaming["stream_options"] = {{"include_usage", true}};
  std::string events;
  const auto response = PostStreaming(client, "/v1/chat/completions", streaming.dump(),
                                      [&](const char* data, size_t length) {
                                        events.append(data, length);
                                        return true;
                                      });
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 200);
  EXPECT_EQ(response->get_header_value("Content-Type"), "text/event-stream");
  std::string text, finish;
  bool done = false, role = false, usage = false;
  size_t start = 0;
  while (start < events.size()) {
    const size_t end = events.find("\n\n", start);
    ASSERT_NE(end, std::string::npos) << "an event without its blank line";
    const std::string event = events.substr(start, end - start);
    start = end + 2;
    ASSERT_EQ(event.rfind("data: ", 0), 0u) << event;
    const std::string data = event.substr(6);
    if (data == "[DONE]") {
      done = true;
      continue;
    }
    const Json chunk = Json::parse(data);
    EXPECT_EQ(chunk["object"], "chat.completion.chunk");
    if (chunk["choices"].empty()) {
      usage = true;
      EXPECT_EQ(chunk["usage"], whole["usage"]);
      continue;
    }
    const Json& delta = chunk["choices"][0]["delta"];
    if (delta.contains("role")) role = true;
    if (delta.contains("content")) text += delta["content"].get<std::string>();
    if (!chunk["choices"][0]["finish_reason"].is_null()) {
      finish = chunk["choices"][0]["finish_reason"];
    }
  }
  EXPECT_TRUE(done && role && usage);
  EXPECT_EQ(text, whole["choices"][0]["message"]["content"]);
  EXPECT_EQ(finish, whole["choices"][0]["finish_reason"]);
}

TEST(Serve, ARequestsAttentionIsItsOwn) {
  FAVOR_REQUIRE_MODELS();
  TestServer server;
  httplib::Client client = server.Client();
  const AttentionSpec hybrid{
      .kind = AttentionKind::kHybrid, .features = 32, .seed = 5, .window = 8, .sinks = 2};
  int status = 0;
  const Json body =
      Post(client, "/v1/completions",
           {{"prompt", "Once upon a time there was a little girl named Lily."},
            {"max_tokens", 16},
            {"temperature", 0},
            {"attention",
             {{"kind", "hybrid"}, {"features", 32}, {"seed", 5}, {"window", 8}, {"sinks", 2}}}},
           &status);
  ASSERT_EQ(status, 200) << body.dump();
  EXPECT_NE(body["timings"]["attention"].get<std::string>().find("hybrid"), std::string::npos);
  EXPECT_EQ(body["choices"][0]["text"],
            GenerateAlone(server.model(), "Once upon a time there was a little girl named Lily.",
                          16, hybrid));
}

// Log-probabilities are the model's: greedy picks the most likely token, which is the first of
// the alternatives, and they match a float64 log-softmax of favor generate's logits.
TEST(Serve, LogprobsAreTheModelsAndGreedyPicksTheTop) {
  FAVOR_REQUIRE_MODELS();
  TestServer server;
  httplib::Client client = server.Client();
  int status = 0;
  const Json body = Post(client, "/v1/chat/completions",
                         {{"messages", {{{"role", "user"}, {"content", "Once upon a time"}}}},
                          {"max_tokens", 8},
                          {"temperature", 0},
                          {"logprobs", true},
                          {"top_logprobs", 3}},
                         &status);
  ASSERT_EQ(status, 200) << body.dump();
  const Json& content = body["choices"][0]["logprobs"]["content"];
  ASSERT_EQ(content.size(), 8u);
  std::string joined;
  for (const Json& entry : content) {
    joined += entry["token"].get<std::string>();
    ASSERT_EQ(entry["top_logprobs"].size(), 3u);
    EXPECT_EQ(entry["top_logprobs"][0]["token"], entry["token"]);
    EXPECT_FLOAT_EQ(entry["top_logprobs"][0]["logprob"].get<float>(),
                    entry["logprob"].get<float>());
    EXPECT_LE(entry["logprob"].get<double>(), 0.0);
    EXPECT_GE(entry["top_logprobs"][0]["logprob"].get<double>(),
              entry["top_logprobs"][1]["logprob"].get<double>());
  }
  EXPECT_EQ(joined, body["choices"][0]["message"]["content"]);
}

TEST(Serve, BadRequestsGetOpenAiErrorsWithTheirStatus) {
  FAVOR_REQUIRE_MODELS();
  TestServer server({.context = 64, .max_body_bytes = 4096});
  httplib::Client client = server.Client();
  auto expect = [&](const std::string& path, const std::string& body, int status,
                    const std::string& needle) {
    const auto response = client.Post(path, body, "application/json");
    ASSERT_TRUE(response) << path;
    EXPECT_EQ(response->status, status) << body.substr(0, 80);
    const Json error = Json::parse(response->body, nullptr, false);
    ASSERT_TRUE(error.is_object() && error.contains("error")) << response->body;
    EXPECT_NE(error["error"]["message"].get<std::string>().find(needle), std::string::npos)
        << error.dump();
  };
  expect("/v1/chat/completions", "{not json", 400, "not valid JSON");
  expect("/v1/chat/completions", R"({"messages": "hi"})", 400, "'messages'");
  expect("/v1/completions", R"({"prompt": "x", "temperature": "warm"})", 400, "'temperature'");
  expect("/v1/completions", R"({"prompt": "x", "model": "gpt-4"})", 404, "'gpt-4' not found");
  expect("/v1/completions", R"({"prompt": [1, 99999]})", 400, "outside the vocabulary");
  std::string long_prompt;
  for (int i = 0; i < 100; ++i) long_prompt += "the cat ";
  expect("/v1/completions", Json{{"prompt", long_prompt}}.dump(), 400, "context");
  expect("/v1/completions", Json{{"prompt", std::string(8000, 'x')}}.dump(), 413, "too large");
  expect("/v1/nothing", "{}", 404, "no route");
  expect("/v1/completions",
         R"({"prompt": "x", "attention": {"kind": "favor#", "features": 32, "window": -1}})", 400,
         "attention.window");
  // Streaming errors before any text are plain HTTP errors too.
  expect("/v1/completions", Json{{"prompt", long_prompt}, {"stream", true}}.dump(), 400, "context");
}

TEST(Serve, AnApiKeyGuardsEverythingButHealth) {
  FAVOR_REQUIRE_MODELS();
  TestServer server({.api_key = "sesame"});
  httplib::Client client = server.Client();
  EXPECT_EQ(client.Get("/health")->status, 200);
  EXPECT_EQ(client.Get("/v1/models")->status, 401);
  EXPECT_EQ(client.Get("/metrics")->status, 401);
  const auto refused = client.Post("/v1/completions", R"({"prompt": "x"})", "application/json");
  EXPECT_EQ(refused->status, 401);
  EXPECT_EQ(Json::parse(refused->body)["error"]["code"], "invalid_api_key");
  client.set_bearer_token_auth("sesame");
  EXPECT_EQ(client.Get("/v1/models")->status, 200);
  EXPECT_EQ(Json::parse(client.Get("/v1/models")->body)["data"][0]["id"], "tiny");
  EXPECT_EQ(client.Post("/v1/completions", R"({"prompt": "x"})", "application/json")->status, 200);
}

// One slot, no queue: while a long request generates, another is turned away with 503 and
// Retry-After; a streaming client that hangs up frees the slot for the next request.
TEST(Serve, AFullServerSays503AndAClientThatLeavesFreesItsSlot) {
  FAVOR_REQUIRE_MODELS();
  TestServer server({.parallel = 1, .queue = 0});
  std::atomic<int> chunks{0};
  std::atomic<bool> checked{false};
  std::thread leaver([&] {
    httplib::Client client = server.Client();
    PostStreaming(client, "/v1/completions",
                  R"({"prompt": "Once upon a time", "max_tokens": 100000, "ignore_eos": true,
                      "stream": true})",
                  [&](const char*, size_t) {
                    ++chunks;
                    return !checked.load();  // Hangs up once the busy answer came.
                  });
  });
  while (chunks < 1) std::this_thread::sleep_for(std::chrono::milliseconds(2));
  httplib::Client client = server.Client();
  const auto busy = client.Post("/v1/completions", R"({"prompt": "x"})", "application/json");
  ASSERT_TRUE(busy);
  EXPECT_EQ(busy->status, 503);
  EXPECT_EQ(busy->get_header_value("Retry-After"), "1");
  checked = true;
  leaver.join();
  // The slot frees once the server notices the closed connection (its next write fails).
  int status = 0;
  for (int attempt = 0; attempt < 200; ++attempt) {
    status =
        client.Post("/v1/completions", R"({"prompt": "x", "max_tokens": 2})", "application/json")
            ->status;
    if (status == 200) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_EQ(status, 200);
  const std::string metrics = client.Get("/metrics")->body;
  EXPECT_NE(metrics.find("favor_requests_total{endpoint=\"/v1/completions\",code=\"503\"}"),
            std::string::npos)
      << metrics;
}

// A client that stops waiting for a whole (non-streaming) response is found out by the spaces
// sent before the body, and its request cancelled. Hybrid attention and a context of a million
// tokens make the abandoned request one that would otherwise run for minutes.
TEST(Serve, ANonStreamingClientThatLeavesFreesItsSlot) {
  FAVOR_REQUIRE_MODELS();
  TestServer server({.parallel = 1,
                     .queue = 0,
                     .context = 1 << 20,
                     .attention = {.kind = AttentionKind::kHybrid, .features = 16, .window = 16}});
  {
    httplib::Client leaver = server.Client();
    leaver.set_read_timeout(0, 600000);
    const auto gone =
        leaver.Post("/v1/completions",
                    R"({"prompt": "Once upon a time", "max_tokens": 1000000, "ignore_eos": true})",
                    "application/json");
    EXPECT_FALSE(gone);  // It timed out.
  }
  httplib::Client client = server.Client();
  int status = 0;
  for (int attempt = 0; attempt < 150 && status != 200; ++attempt) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    status =
        client.Post("/v1/completions", R"({"prompt": "x", "max_tokens": 2})", "application/json")
            ->status;
  }
  EXPECT_EQ(status, 200);
}

// 200 requests, 16 at a time, on 4 slots with a queue: every one answered whole; latency and
// throughput are printed, not asserted.
TEST(Serve, ABoundedLoadLosesNothing) {
  FAVOR_REQUIRE_MODELS();
  TestServer server({.parallel = 4, .queue = 64});
  constexpr int kRequests = 200, kConcurrent = 16, kTokens = 8;
  std::atomic<int> next{0}, complete{0};
  std::vector<double> latencies(kRequests);
  const auto start = std::chrono::steady_clock::now();
  std::vector<std::thread> clients;
  for (int c = 0; c < kConcurrent; ++c) {
    clients.emplace_back([&] {
      httplib::Client client = server.Client();
      for (int i = next++; i < kRequests; i = next++) {
        const auto begin = std::chrono::steady_clock::now();
        int status = 0;
        const Json body = Post(client, "/v1/completions",
                               {{"prompt", kStories[i % std::size(kStories)]},
                                {"max_tokens", kTokens},
                                {"ignore_eos", true},
                                {"seed", i}},
                               &status);
        latencies[static_cast<size_t>(i)] =
            std::chrono::duration<double>(std::chrono::steady_clock::now() - begin).count();
        if (status == 200 && body["usage"]["completion_tokens"] == kTokens) {
          ++complete;
        } else {
          ADD_FAILURE() << "request " << i << ": status " << status << ": " << body.dump();
        }
      }
    });
  }
  for (auto& client : clients) client.join();
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_EQ(complete, kRequests);
  std::sort(latencies.begin(), latencies.end());
  std::printf(
      "load: %d requests, %d concurrent: p50 %.1f ms, p99 %.1f ms, %.0f generated tokens/s\n",
      kRequests, kConcurrent, 1000 * latencies[kRequests / 2],
      1000 * latencies[kRequests * 99 / 100], kRequests * kTokens / seconds);
}

}  // namespace
}  // namespace favor::server
