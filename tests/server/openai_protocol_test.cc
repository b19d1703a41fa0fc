// What a client may send, field by field: accepted as OpenAI defines it, refused with the field's
// name otherwise; and the shape of what goes back (as the openai SDKs read it).
#include "server/openai_protocol.h"

#include <nlohmann/json.hpp>

#include "gtest/gtest.h"

namespace favor::server {
namespace {

using Json = nlohmann::ordered_json;

CompletionRequest Chat(const std::string& body) {
  auto request = ParseCompletionRequest(Endpoint::kChatCompletions, body);
  EXPECT_TRUE(request.ok()) << request.status() << " for " << body;
  return request.ok() ? *std::move(request) : CompletionRequest();
}

void ExpectRefused(Endpoint endpoint, const std::string& body, const std::string& needle) {
  const auto request = ParseCompletionRequest(endpoint, body);
  ASSERT_FALSE(request.ok()) << body;
  EXPECT_EQ(request.status().code(), absl::StatusCode::kInvalidArgument) << body;
  EXPECT_NE(request.status().message().find(needle), std::string::npos)
      << request.status().message() << " lacks '" << needle << "' for " << body;
}

TEST(OpenAiProtocol, ParsesAChatRequestWithEveryOption) {
  const CompletionRequest r = Chat(R"({
    "model": "m", "messages": [{"role": "system", "content": "Be brief."},
                               {"role": "user", "content": [{"type": "text", "text": "Hi "},
                                                            {"type": "text", "text": "there"}]}],
    "max_tokens": 7, "temperature": 0.5, "top_p": 0.9, "top_k": 20, "min_p": 0.1, "seed": 42,
    "stop": ["\n", "END"], "stream": true, "stream_options": {"include_usage": true},
    "presence_penalty": 0, "n": 1, "logprobs": false, "ignore_eos": true,
    "attention": {"kind": "hybrid", "features": 32, "window": 16, "sinks": 2, "seed": 3}})");
  EXPECT_EQ(r.model, "m");
  ASSERT_EQ(r.messages.size(), 2u);
  EXPECT_EQ(r.max_tokens, 7);
  EXPECT_EQ(r.temperature, 0.5f);
  EXPECT_EQ(r.top_k, 20);
  EXPECT_EQ(r.seed, 42u);
  EXPECT_EQ(r.stop, (std::vector<std::string>{"\n", "END"}));
  EXPECT_TRUE(r.stream);
  EXPECT_TRUE(r.include_usage);
  EXPECT_TRUE(r.ignore_eos);
  ASSERT_TRUE(r.attention.has_value());
  EXPECT_EQ(r.attention->kind, AttentionKind::kHybrid);
  EXPECT_EQ(r.attention->features, 32);
  EXPECT_EQ(r.attention->window, 16);
  EXPECT_EQ(r.attention->sinks, 2);

  runtime::GenerationOptions defaults;
  defaults.max_tokens = 100;
  const runtime::GenerationOptions options = ToGenerationOptions(r, defaults);
  EXPECT_EQ(options.max_tokens, 7);
  EXPECT_EQ(options.sampling.top_p, 0.9f);
  EXPECT_EQ(options.sampling.min_p, 0.1f);
  EXPECT_EQ(options.sampling.seed, 42u);
  EXPECT_FALSE(options.stop_at_eos);
}

TEST(OpenAiProtocol, NullsAndOmissionsKeepTheServersDefaults) {
  const CompletionRequest r = Chat(
      R"({"messages": [{"role": "user", "content": "x"}], "temperature": null, "stop": null,
          "max_completion_tokens": 3, "seed": -1})");
  EXPECT_FALSE(r.temperature.has_value());
  EXPECT_EQ(r.max_tokens, 3);
  EXPECT_EQ(r.seed, text::kRandomSeed);
  runtime::GenerationOptions defaults;
  defaults.sampling.temperature = 0.25f;
  EXPECT_EQ(ToGenerationOptions(r, defaults).sampling.temperature, 0.25f);
}

TEST(OpenAiProtocol, ParsesCompletionPrompts) {
  auto text = ParseCompletionRequest(Endpoint::kCompletions, R"({"prompt": "Once"})");
  ASSERT_TRUE(text.ok());
  EXPECT_EQ(text->prompt, "Once");
  auto listed = ParseCompletionRequest(Endpoint::kCompletions, R"({"prompt": ["Once"]})");
  ASSERT_TRUE(listed.ok());
  EXPECT_EQ(listed->prompt, "Once");
  auto ids = ParseCompletionRequest(Endpoint::kCompletions, R"({"prompt": [1, 2, 3]})");
  ASSERT_TRUE(ids.ok());
  EXPECT_EQ(ids->prompt_tokens, (std::vector<int32_t>{1, 2, 3}));
}

TEST(OpenAiProtocol, RefusesBadRequestsNamingTheField) {
  const Endpoint chat = Endpoint::kChatCompletions;
  ExpectRefused(chat, "{", "not valid JSON");
  ExpectRefused(chat, "[]", "must be an object");
  ExpectRefused(chat, std::string(600, '[') + std::string(600, ']'), "nested deeper");
  ExpectRefused(chat, "{}", "'messages' is required");
  ExpectRefused(chat, R"({"messages": []})", "'messages' must be a non-empty list");
  ExpectRefused(chat, R"({"messages": [1]})", "'messages[0]' must be an object");
  ExpectRefused(chat, R"({"messages": [{"content": "x"}]})", "messages[0].role");
  ExpectRefused(chat, R"({"messages": [{"role": "user", "content": 5}]})", "messages[0].content");
  ExpectRefused(chat, R"({"messages": [{"role": "user", "content": [{"type": "image_url"}]}]})",
                "text only");
  const std::string ok = R"("messages": [{"role": "user", "content": "x"}])";
  auto refused = [&](const std::string& field, const std::string& needle) {
    ExpectRefused(chat, "{" + ok + ", " + field + "}", needle);
  };
  refused(R"("temperature": "hot")", "'temperature' must be a number");
  refused(R"("temperature": 3)", "'temperature' must be in [0, 2]");
  refused(R"("top_p": 0)", "'top_p'");
  refused(R"("max_tokens": 1.5)", "'max_tokens' must be an integer");
  refused(R"("max_tokens": -5)", "'max_tokens'");
  refused(R"("max_tokens": 18446744073709551615)", "'max_tokens'");
  refused(R"("stream": "yes")", "'stream' must be true or false");
  refused(R"("stop": [""])", "'stop'");
  refused(R"("stop": 4)", "'stop'");
  refused(R"("model": 4)", "'model' must be a string");
  refused(R"("n": 2)", "'n' must be 1");
  refused(R"("frequency_penalty": 0.5)", "'frequency_penalty' is not supported");
  refused(R"("logprobs": true, "stream": true)", "'logprobs' is not supported with streaming");
  refused(R"("top_logprobs": 3)", "'top_logprobs' needs 'logprobs': true");
  refused(R"("logprobs": true, "top_logprobs": 21)", "'top_logprobs'");
  refused(R"("tools": [{"type": "function"}])", "'tools' is not supported");
  refused(R"("attention": "magic")", "unknown attention");
  refused(R"("attention": {"features": 3})", "'attention.kind' is required");
  refused(R"("attention": {"kind": "favor#", "statistics": "/etc/passwd"})",
          "'attention.statistics' must be");
  refused(R"("attention": {"kind": "favor#", "plan": "x"})", "'attention.plan'");
  refused(R"("attention": {"kind": "favor#", "features": 0})", "'attention.features'");
  ExpectRefused(Endpoint::kCompletions, "{}", "'prompt' is required");
  ExpectRefused(Endpoint::kCompletions, R"({"prompt": ["a", "b"]})", "send one per request");
  ExpectRefused(Endpoint::kCompletions, R"({"prompt": [1, -2]})", "token ids");
  ExpectRefused(Endpoint::kCompletions, R"({"prompt": []})", "'prompt'");
  ExpectRefused(Endpoint::kCompletions, R"({"prompt": "x", "logprobs": 6})", "'logprobs'");
  ExpectRefused(Endpoint::kCompletions, R"({"prompt": "x", "logprobs": true})", "'logprobs'");
}

TEST(OpenAiProtocol, ResponsesHaveTheShapeClientsRead) {
  runtime::GenerationResult result;
  result.text = "Hello";
  result.tokens = {5, 6};
  result.prompt_tokens = 4;
  result.stop = runtime::StopReason::kMaxTokens;
  const ResponseHeader chat{Endpoint::kChatCompletions, "chatcmpl-1", 1700000000, "m"};
  const Json whole = Json::parse(CompletionResponse(
      chat, result, {.prompt_tokens = 4, .completion_tokens = 2, .cached_tokens = 1}, {}));
  EXPECT_EQ(whole["object"], "chat.completion");
  EXPECT_EQ(whole["choices"][0]["message"]["role"], "assistant");
  EXPECT_EQ(whole["choices"][0]["message"]["content"], "Hello");
  EXPECT_EQ(whole["choices"][0]["finish_reason"], "length");
  EXPECT_EQ(whole["usage"]["total_tokens"], 6);
  EXPECT_EQ(whole["usage"]["prompt_tokens_details"]["cached_tokens"], 1);

  const Json first = Json::parse(StreamChunk(chat, "He", true, nullptr));
  EXPECT_EQ(first["object"], "chat.completion.chunk");
  EXPECT_EQ(first["choices"][0]["delta"]["role"], "assistant");
  EXPECT_EQ(first["choices"][0]["delta"]["content"], "He");
  EXPECT_TRUE(first["choices"][0]["finish_reason"].is_null());
  const Json last = Json::parse(StreamChunk(chat, "", false, "stop"));
  EXPECT_FALSE(last["choices"][0]["delta"].contains("content"));
  EXPECT_EQ(last["choices"][0]["finish_reason"], "stop");
  EXPECT_TRUE(Json::parse(UsageChunk(chat, {}, {}))["choices"].empty());

  const ResponseHeader completion{Endpoint::kCompletions, "cmpl-1", 1700000000, "m"};
  EXPECT_EQ(Json::parse(StreamChunk(completion, "x", true, nullptr))["choices"][0]["text"], "x");
  // Half a character at the very end of a generation is replaced, not a failed response.
  result.text = "ok \xE2\x82";
  EXPECT_NO_THROW(Json::parse(CompletionResponse(completion, result, {}, {})));
}

TEST(OpenAiProtocol, LogprobsInEachEndpointsFormat) {
  EXPECT_EQ(Chat(R"({"messages": [{"role": "user", "content": "x"}], "logprobs": true,
                     "top_logprobs": 2})")
                .logprobs,
            2);
  EXPECT_EQ(Chat(R"({"messages": [{"role": "user", "content": "x"}], "logprobs": false})").logprobs,
            -1);
  const auto completion =
      ParseCompletionRequest(Endpoint::kCompletions, R"({"prompt": "x", "logprobs": 3})").value();
  EXPECT_EQ(completion.logprobs, 3);
  EXPECT_EQ(ToGenerationOptions(completion, {}).logprobs, 3);

  runtime::GenerationResult result;
  result.text = "ab";
  result.tokens = {1, 2};
  result.logprobs = {{.token = 1, .logprob = -0.5f, .top = {{1, -0.5f}, {3, -1.5f}}},
                     {.token = 2, .logprob = -0.25f, .top = {{2, -0.25f}, {4, -2.0f}}}};
  const TokenText text = [](int32_t token) {
    return std::string(1, static_cast<char>('`' + token));
  };
  const Json chat = Json::parse(CompletionResponse({Endpoint::kChatCompletions, "c", 0, "m"},
                                                   result, {}, {}, text))["choices"][0]["logprobs"];
  ASSERT_EQ(chat["content"].size(), 2u);
  EXPECT_EQ(chat["content"][0]["token"], "a");
  EXPECT_EQ(chat["content"][0]["logprob"], -0.5);
  EXPECT_EQ(chat["content"][0]["bytes"], Json::array({97}));
  EXPECT_EQ(chat["content"][1]["top_logprobs"][1]["token"], "d");
  const Json plain = Json::parse(CompletionResponse({Endpoint::kCompletions, "c", 0, "m"}, result,
                                                    {}, {}, text))["choices"][0]["logprobs"];
  EXPECT_EQ(plain["tokens"], Json::array({"a", "b"}));
  EXPECT_EQ(plain["token_logprobs"], Json::array({-0.5, -0.25}));
  EXPECT_EQ(plain["top_logprobs"][0]["c"], -1.5);
  EXPECT_EQ(plain["text_offset"], Json::array({0, 1}));
}

TEST(OpenAiProtocol, ErrorsMapToHttpStatusesAndOpenAiObjects) {
  EXPECT_EQ(ErrorFor(absl::InvalidArgumentError("x")).http_status, 400);
  EXPECT_EQ(ErrorFor(absl::OutOfRangeError("x")).code, "context_length_exceeded");
  EXPECT_EQ(ErrorFor(absl::NotFoundError("x")).http_status, 404);
  EXPECT_EQ(ErrorFor(absl::UnauthenticatedError("x")).http_status, 401);
  EXPECT_EQ(ErrorFor(absl::ResourceExhaustedError("x")).http_status, 503);
  EXPECT_EQ(ErrorFor(absl::InternalError("x")).http_status, 500);
  const Json body = Json::parse(ErrorBody(ErrorFor(absl::InvalidArgumentError("bad"))));
  EXPECT_EQ(body["error"]["message"], "bad");
  EXPECT_EQ(body["error"]["type"], "invalid_request_error");
  EXPECT_TRUE(body["error"]["code"].is_null());
}

}  // namespace
}  // namespace favor::server
