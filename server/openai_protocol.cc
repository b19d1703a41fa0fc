#include "server/openai_protocol.h"

#include <cmath>
#include <limits>

#include <nlohmann/json.hpp>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "engine/chat/json_value.h"
#include "engine/core/status.h"

namespace favor::server {
namespace {

using Json = nlohmann::ordered_json;

absl::Status FieldError(absl::string_view field, absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat("'", field, "' ", what));
}

// A number within [low, high], or absent (null counts as absent, as OpenAI's SDKs send it).
absl::StatusOr<std::optional<double>> Number(const Json& body, const std::string& field, double low,
                                             double high) {
  const auto it = body.find(field);
  if (it == body.end() || it->is_null()) return std::nullopt;
  if (!it->is_number()) return FieldError(field, "must be a number");
  const double value = it->get<double>();
  if (!std::isfinite(value) || value < low || value > high) {
    return FieldError(field, absl::StrCat("must be in [", low, ", ", high, "], got ", value));
  }
  return value;
}

absl::StatusOr<std::optional<int64_t>> Integer(const Json& body, const std::string& field,
                                               int64_t low, int64_t high) {
  const auto it = body.find(field);
  if (it == body.end() || it->is_null()) return std::nullopt;
  if (!it->is_number_integer()) return FieldError(field, "must be an integer");
  if (it->is_number_unsigned() && it->get<uint64_t>() > static_cast<uint64_t>(high)) {
    return FieldError(field, absl::StrCat("must be at most ", high));
  }
  const int64_t value = it->get<int64_t>();
  if (value < low || value > high) {
    return FieldError(field, absl::StrCat("must be in [", low, ", ", high, "], got ", value));
  }
  return value;
}

absl::StatusOr<std::optional<bool>> Boolean(const Json& body, const std::string& field) {
  const auto it = body.find(field);
  if (it == body.end() || it->is_null()) return std::nullopt;
  if (!it->is_boolean()) return FieldError(field, "must be true or false");
  return it->get<bool>();
}

absl::StatusOr<std::optional<std::string>> String(const Json& body, const std::string& field) {
  const auto it = body.find(field);
  if (it == body.end() || it->is_null()) return std::nullopt;
  if (!it->is_string()) return FieldError(field, "must be a string");
  return it->get<std::string>();
}

// A message's content: a string, or a list of {"type": "text", "text": ...} parts (joined).
absl::StatusOr<std::string> MessageContent(const Json& content, size_t index) {
  const std::string field = absl::StrCat("messages[", index, "].content");
  if (content.is_string()) return content.get<std::string>();
  if (content.is_null()) return std::string();
  if (!content.is_array()) return FieldError(field, "must be a string or a list of text parts");
  std::string text;
  for (const Json& part : content) {
    if (!part.is_object() || part.value("type", "") != "text" || !part.contains("text") ||
        !part["text"].is_string()) {
      return FieldError(field,
                        "parts must be {\"type\": \"text\", \"text\": ...}: this model reads text "
                        "only");
    }
    text += part["text"].get<std::string>();
  }
  return text;
}

absl::StatusOr<chat::List> Messages(const Json& body) {
  const auto it = body.find("messages");
  if (it == body.end()) return FieldError("messages", "is required");
  if (!it->is_array() || it->empty()) return FieldError("messages", "must be a non-empty list");
  chat::List messages;
  for (size_t i = 0; i < it->size(); ++i) {
    const Json& message = (*it)[i];
    const std::string field = absl::StrCat("messages[", i, "]");
    if (!message.is_object()) return FieldError(field, "must be an object");
    const auto role = message.find("role");
    if (role == message.end() || !role->is_string() || role->get<std::string>().empty()) {
      return FieldError(field + ".role", "must be a non-empty string");
    }
    // The message as sent (tool calls, names and all, for templates that read them), its content
    // flattened to text.
    Json copy = message;
    const auto content = message.find("content");
    FAVOR_ASSIGN_OR_RETURN(copy["content"],
                           content == message.end() ? std::string() : MessageContent(*content, i));
    messages.push_back(chat::ValueFromJson(copy));
  }
  return messages;
}

absl::Status Prompt(const Json& body, CompletionRequest& request) {
  const auto it = body.find("prompt");
  if (it == body.end()) return FieldError("prompt", "is required");
  const Json* prompt = &*it;
  if (prompt->is_array() && prompt->size() == 1 &&
      ((*prompt)[0].is_string() || (*prompt)[0].is_array())) {
    prompt = &(*prompt)[0];  // One prompt in a list.
  }
  if (prompt->is_string()) {
    request.prompt = prompt->get<std::string>();
    return absl::OkStatus();
  }
  if (prompt->is_array() && prompt->size() > 1 && (*prompt)[0].is_string()) {
    return FieldError("prompt",
                      "holds several prompts: send one per request (several requests at once "
                      "are generated together)");
  }
  if (prompt->is_array() && !prompt->empty()) {
    for (const Json& token : *prompt) {
      if (!token.is_number_integer() || token.get<int64_t>() < 0 ||
          token.get<int64_t>() > std::numeric_limits<int32_t>::max()) {
        return FieldError("prompt", "must be a string, or a list of token ids");
      }
      request.prompt_tokens.push_back(static_cast<int32_t>(token.get<int64_t>()));
    }
    return absl::OkStatus();
  }
  return FieldError("prompt",
                    "must be a string or a list of token ids (one prompt per request: send several "
                    "requests at once instead)");
}

absl::Status Stop(const Json& body, CompletionRequest& request) {
  const auto it = body.find("stop");
  if (it == body.end() || it->is_null()) return absl::OkStatus();
  if (it->is_string()) {
    request.stop.push_back(it->get<std::string>());
  } else if (it->is_array() && it->size() <= 16) {
    for (const Json& stop : *it) {
      if (!stop.is_string()) return FieldError("stop", "must be a string or a list of strings");
      request.stop.push_back(stop.get<std::string>());
    }
  } else {
    return FieldError("stop", "must be a string or a list of up to 16 strings");
  }
  for (const std::string& stop : request.stop) {
    if (stop.empty()) return FieldError("stop", "must not hold an empty string");
  }
  return absl::OkStatus();
}

// The "attention" extension. Files (statistics, plans) are the server's to choose, not a
// client's: a request may not name one.
absl::StatusOr<std::optional<AttentionSpec>> ParseAttention(const Json& body);

// Errors of the fields of "attention" name them as attention.FIELD.
absl::StatusOr<std::optional<AttentionSpec>> Attention(const Json& body) {
  auto spec = ParseAttention(body);
  if (!spec.ok() && absl::StartsWith(spec.status().message(), "'") &&
      !absl::StartsWith(spec.status().message(), "'attention")) {
    return absl::Status(spec.status().code(),
                        absl::StrCat("'attention.", spec.status().message().substr(1)));
  }
  return spec;
}

absl::StatusOr<std::optional<AttentionSpec>> ParseAttention(const Json& body) {
  const auto it = body.find("attention");
  if (it == body.end() || it->is_null()) return std::nullopt;
  const Json& attention = *it;
  if (attention.is_string()) {
    AttentionSpec spec;
    FAVOR_ASSIGN_OR_RETURN(spec.kind, ParseAttentionKind(attention.get<std::string>()));
    return spec;
  }
  if (!attention.is_object()) {
    return FieldError("attention", "must be a kind name or an object with \"kind\"");
  }
  for (const auto& [key, value] : attention.items()) {
    if (key != "kind" && key != "features" && key != "window" && key != "sinks" && key != "seed" &&
        key != "rf" && key != "statistics") {
      return FieldError(key,
                        "is not an attention option (kind, features, window, sinks, seed, rf, "
                        "statistics)");
    }
  }
  AttentionSpec spec;
  FAVOR_ASSIGN_OR_RETURN(const auto kind, String(attention, "kind"));
  if (!kind.has_value()) return FieldError("kind", "is required");
  FAVOR_ASSIGN_OR_RETURN(spec.kind, ParseAttentionKind(*kind));
  FAVOR_ASSIGN_OR_RETURN(const auto features, Integer(attention, "features", 1, kMaxFeatures));
  if (features.has_value()) spec.features = *features;
  FAVOR_ASSIGN_OR_RETURN(const auto window, Integer(attention, "window", 0, kMaxWindow));
  if (window.has_value()) spec.window = *window;
  FAVOR_ASSIGN_OR_RETURN(const auto sinks, Integer(attention, "sinks", 0, kMaxWindow));
  if (sinks.has_value()) spec.sinks = *sinks;
  FAVOR_ASSIGN_OR_RETURN(const auto seed,
                         Integer(attention, "seed", 0, std::numeric_limits<int64_t>::max()));
  if (seed.has_value()) spec.seed = static_cast<uint64_t>(*seed);
  FAVOR_ASSIGN_OR_RETURN(const auto rf, String(attention, "rf"));
  if (rf.has_value()) {
    FAVOR_ASSIGN_OR_RETURN(spec.feature_kind, ParseFeatureKind(*rf));
  }
  FAVOR_ASSIGN_OR_RETURN(const auto statistics, String(attention, "statistics"));
  if (statistics.has_value()) {
    if (*statistics != "prompt" && *statistics != "calibrated" && *statistics != "causal") {
      return FieldError("statistics", "must be prompt, calibrated or causal");
    }
    FAVOR_RETURN_IF_ERROR(ParseStatistics(*statistics, spec));
  }
  return spec;
}

// Chat: "logprobs": true with "top_logprobs": 0-20. Completions: "logprobs": 0-5 (the count of
// alternatives).
absl::Status Logprobs(const Json& body, CompletionRequest& request) {
  if (request.endpoint == Endpoint::kChatCompletions) {
    FAVOR_ASSIGN_OR_RETURN(const auto wanted, Boolean(body, "logprobs"));
    FAVOR_ASSIGN_OR_RETURN(const auto top, Integer(body, "top_logprobs", 0, 20));
    if (top.has_value() && !wanted.value_or(false)) {
      return FieldError("top_logprobs", "needs 'logprobs': true");
    }
    if (wanted.value_or(false)) request.logprobs = static_cast<int>(top.value_or(0));
  } else {
    const auto it = body.find("logprobs");
    if (it != body.end() && it->is_boolean()) return FieldError("logprobs", "must be an integer");
    FAVOR_ASSIGN_OR_RETURN(const auto top, Integer(body, "logprobs", 0, 5));
    if (top.has_value()) request.logprobs = static_cast<int>(*top);
  }
  if (request.logprobs >= 0 && request.stream) {
    return FieldError("logprobs", "is not supported with streaming");
  }
  return absl::OkStatus();
}

// Options OpenAI defines that favor does not implement: refused when set to anything but their
// neutral value, never silently ignored.
absl::Status Unsupported(const Json& body) {
  for (const char* field : {"presence_penalty", "frequency_penalty"}) {
    const auto it = body.find(field);
    if (it != body.end() && !it->is_null() && !(it->is_number() && it->get<double>() == 0.0)) {
      return FieldError(field, "is not supported (use the extension 'repeat_penalty')");
    }
  }
  const auto n = body.find("n");
  if (n != body.end() && !n->is_null() && !(n->is_number_integer() && n->get<int64_t>() == 1)) {
    return FieldError("n", "must be 1 (send several requests for several choices)");
  }
  for (const char* field : {"echo"}) {
    const auto it = body.find(field);
    if (it != body.end() && !it->is_null() && !(it->is_boolean() && !it->get<bool>()) &&
        !(it->is_number_integer() && it->get<int64_t>() == 0)) {
      return FieldError(field, "is not supported");
    }
  }
  for (const char* field : {"tools", "functions", "suffix", "logit_bias", "response_format"}) {
    const auto it = body.find(field);
    if (it != body.end() && !it->is_null() && !(it->is_array() && it->empty()) &&
        !(it->is_object() && (it->empty() || it->value("type", "") == "text"))) {
      return FieldError(field, "is not supported");
    }
  }
  return absl::OkStatus();
}

Json UsageJson(const Usage& usage) {
  Json json;
  json["prompt_tokens"] = usage.prompt_tokens;
  json["completion_tokens"] = usage.completion_tokens;
  json["total_tokens"] = usage.prompt_tokens + usage.completion_tokens;
  json["prompt_tokens_details"] = {{"cached_tokens", usage.cached_tokens}};
  return json;
}

Json TimingsJson(const Usage& usage, const Timings& timings) {
  Json json;
  json["prompt_n"] = usage.prompt_tokens - usage.cached_tokens;
  json["prompt_ms"] = timings.prompt_ms;
  json["predicted_n"] = usage.completion_tokens;
  json["predicted_ms"] = timings.predicted_ms;
  if (timings.predicted_ms > 0) {
    json["predicted_per_second"] =
        1000.0 * static_cast<double>(usage.completion_tokens) / timings.predicted_ms;
  }
  json["attention"] = timings.attention;
  json["state_bytes"] = timings.state_bytes;
  return json;
}

Json HeaderJson(const ResponseHeader& header, bool chunk) {
  Json json;
  json["id"] = header.id;
  const bool chat = header.endpoint == Endpoint::kChatCompletions;
  json["object"] = chat ? (chunk ? "chat.completion.chunk" : "chat.completion") : "text_completion";
  json["created"] = header.created;
  json["model"] = header.model;
  json["system_fingerprint"] = "favor";
  return json;
}

// Text a client is sent: invalid UTF-8 (a model may emit half a character at the very end) is
// replaced rather than failing the whole response.
std::string Dump(const Json& json) {
  return json.dump(-1, ' ', false, Json::error_handler_t::replace);
}

}  // namespace

absl::StatusOr<CompletionRequest> ParseCompletionRequest(Endpoint endpoint,
                                                         absl::string_view body) {
  FAVOR_RETURN_IF_ERROR(chat::CheckJsonNesting(body, "the request body"));
  const Json json = Json::parse(body.begin(), body.end(), nullptr, /*allow_exceptions=*/false);
  if (json.is_discarded()) return absl::InvalidArgumentError("the request body is not valid JSON");
  if (!json.is_object()) return absl::InvalidArgumentError("the request body must be an object");
  CompletionRequest request;
  request.endpoint = endpoint;
  FAVOR_ASSIGN_OR_RETURN(const auto model, String(json, "model"));
  request.model = model.value_or("");
  if (endpoint == Endpoint::kChatCompletions) {
    FAVOR_ASSIGN_OR_RETURN(request.messages, Messages(json));
  } else {
    FAVOR_RETURN_IF_ERROR(Prompt(json, request));
  }
  FAVOR_RETURN_IF_ERROR(Unsupported(json));
  FAVOR_ASSIGN_OR_RETURN(const auto stream, Boolean(json, "stream"));
  request.stream = stream.value_or(false);
  const auto options = json.find("stream_options");
  if (options != json.end() && !options->is_null()) {
    if (!options->is_object()) return FieldError("stream_options", "must be an object");
    FAVOR_ASSIGN_OR_RETURN(const auto usage, Boolean(*options, "include_usage"));
    request.include_usage = usage.value_or(false);
  }
  constexpr int64_t kMostTokens = int64_t{1} << 30;
  FAVOR_ASSIGN_OR_RETURN(request.max_tokens,
                         Integer(json, "max_completion_tokens", 0, kMostTokens));
  if (!request.max_tokens.has_value()) {
    FAVOR_ASSIGN_OR_RETURN(request.max_tokens, Integer(json, "max_tokens", -1, kMostTokens));
  }
  FAVOR_ASSIGN_OR_RETURN(const auto temperature, Number(json, "temperature", 0, 2));
  if (temperature) request.temperature = static_cast<float>(*temperature);
  FAVOR_ASSIGN_OR_RETURN(const auto top_p, Number(json, "top_p", 0, 1));
  if (top_p) {
    if (*top_p == 0) return FieldError("top_p", "must be in (0, 1]");
    request.top_p = static_cast<float>(*top_p);
  }
  FAVOR_ASSIGN_OR_RETURN(const auto min_p, Number(json, "min_p", 0, 1));
  if (min_p) request.min_p = static_cast<float>(*min_p);
  FAVOR_ASSIGN_OR_RETURN(const auto repeat_penalty, Number(json, "repeat_penalty", 0, 100));
  if (repeat_penalty) {
    if (*repeat_penalty == 0) return FieldError("repeat_penalty", "must be positive");
    request.repeat_penalty = static_cast<float>(*repeat_penalty);
  }
  FAVOR_ASSIGN_OR_RETURN(request.top_k, Integer(json, "top_k", 0, 1 << 20));
  FAVOR_ASSIGN_OR_RETURN(const auto seed, Integer(json, "seed", std::numeric_limits<int64_t>::min(),
                                                  std::numeric_limits<int64_t>::max()));
  if (seed.has_value()) {
    if (*seed == -1) {
      request.seed = text::kRandomSeed;  // llama-server's "random".
    } else {
      request.seed = static_cast<uint64_t>(*seed);
      if (*request.seed == text::kRandomSeed) request.seed = 0;
    }
  }
  FAVOR_RETURN_IF_ERROR(Stop(json, request));
  FAVOR_ASSIGN_OR_RETURN(const auto ignore_eos, Boolean(json, "ignore_eos"));
  request.ignore_eos = ignore_eos.value_or(false);
  FAVOR_ASSIGN_OR_RETURN(request.attention, Attention(json));
  FAVOR_RETURN_IF_ERROR(Logprobs(json, request));
  return request;
}

runtime::GenerationOptions ToGenerationOptions(const CompletionRequest& request,
                                               const runtime::GenerationOptions& defaults) {
  runtime::GenerationOptions options = defaults;
  if (request.max_tokens.has_value()) options.max_tokens = *request.max_tokens;
  text::SamplerOptions& sampling = options.sampling;
  if (request.temperature) sampling.temperature = *request.temperature;
  if (request.top_p) sampling.top_p = *request.top_p;
  if (request.min_p) sampling.min_p = *request.min_p;
  if (request.repeat_penalty) sampling.repeat_penalty = *request.repeat_penalty;
  if (request.top_k) sampling.top_k = static_cast<int>(*request.top_k);
  if (request.seed) sampling.seed = *request.seed;
  options.stop_strings = request.stop;
  options.stop_at_eos = !request.ignore_eos;
  options.logprobs = request.logprobs;
  return options;
}

const char* FinishReason(runtime::StopReason stop) {
  switch (stop) {
    case runtime::StopReason::kMaxTokens:
    case runtime::StopReason::kContextFull:
      return "length";
    case runtime::StopReason::kEndOfSequence:
    case runtime::StopReason::kStopString:
    case runtime::StopReason::kCallback:
      return "stop";
  }
  return "stop";
}

namespace {

Json Bytes(const std::string& text) {
  Json bytes = Json::array();
  for (const char c : text) bytes.push_back(static_cast<unsigned char>(c));
  return bytes;
}

// Chat's {"content": [{"token", "logprob", "bytes", "top_logprobs": [...]}]}.
Json ChatLogprobs(const runtime::GenerationResult& result, const TokenText& token_text) {
  Json content = Json::array();
  for (const runtime::TokenLogprob& entry : result.logprobs) {
    const std::string text = token_text(entry.token);
    Json top = Json::array();
    for (const auto& [token, logprob] : entry.top) {
      const std::string alternative = token_text(token);
      top.push_back({{"token", alternative}, {"logprob", logprob}, {"bytes", Bytes(alternative)}});
    }
    content.push_back({{"token", text},
                       {"logprob", entry.logprob},
                       {"bytes", Bytes(text)},
                       {"top_logprobs", top}});
  }
  return {{"content", content}};
}

// Completions' {"tokens", "token_logprobs", "top_logprobs", "text_offset"}.
Json CompletionLogprobs(const runtime::GenerationResult& result, const TokenText& token_text) {
  Json tokens = Json::array(), logprobs = Json::array(), tops = Json::array(),
       offsets = Json::array();
  int64_t offset = 0;
  for (const runtime::TokenLogprob& entry : result.logprobs) {
    const std::string text = token_text(entry.token);
    tokens.push_back(text);
    logprobs.push_back(entry.logprob);
    Json top = Json::object();
    for (const auto& [token, logprob] : entry.top) top[token_text(token)] = logprob;
    tops.push_back(top);
    offsets.push_back(offset);
    offset += static_cast<int64_t>(text.size());
  }
  return {{"tokens", tokens},
          {"token_logprobs", logprobs},
          {"top_logprobs", tops},
          {"text_offset", offsets}};
}

}  // namespace

std::string CompletionResponse(const ResponseHeader& header,
                               const runtime::GenerationResult& result, const Usage& usage,
                               const Timings& timings, const TokenText& token_text) {
  Json json = HeaderJson(header, false);
  Json choice;
  choice["index"] = 0;
  if (header.endpoint == Endpoint::kChatCompletions) {
    choice["message"] = {{"role", "assistant"}, {"content", result.text}};
  } else {
    choice["text"] = result.text;
  }
  const bool chat = header.endpoint == Endpoint::kChatCompletions;
  choice["logprobs"] = result.logprobs.empty() || token_text == nullptr ? Json(nullptr)
                       : chat ? ChatLogprobs(result, token_text)
                              : CompletionLogprobs(result, token_text);
  choice["finish_reason"] = FinishReason(result.stop);
  json["choices"] = Json::array({choice});
  json["usage"] = UsageJson(usage);
  json["timings"] = TimingsJson(usage, timings);
  return Dump(json);
}

std::string StreamChunk(const ResponseHeader& header, const std::string& text, bool first,
                        const char* finish_reason) {
  Json json = HeaderJson(header, true);
  Json choice;
  choice["index"] = 0;
  if (header.endpoint == Endpoint::kChatCompletions) {
    Json delta = Json::object();
    if (first) delta["role"] = "assistant";
    if (!text.empty() || (first && finish_reason == nullptr)) delta["content"] = text;
    choice["delta"] = delta;
  } else {
    choice["text"] = text;
  }
  choice["logprobs"] = nullptr;
  choice["finish_reason"] = finish_reason == nullptr ? Json(nullptr) : Json(finish_reason);
  json["choices"] = Json::array({choice});
  return Dump(json);
}

std::string UsageChunk(const ResponseHeader& header, const Usage& usage, const Timings& timings) {
  Json json = HeaderJson(header, true);
  json["choices"] = Json::array();
  json["usage"] = UsageJson(usage);
  json["timings"] = TimingsJson(usage, timings);
  return Dump(json);
}

ApiError ErrorFor(const absl::Status& status) {
  ApiError error;
  error.message = std::string(status.message());
  switch (status.code()) {
    case absl::StatusCode::kInvalidArgument:
      error.http_status = 400;
      error.type = "invalid_request_error";
      break;
    case absl::StatusCode::kOutOfRange:
      error.http_status = 400;
      error.type = "invalid_request_error";
      error.code = "context_length_exceeded";
      break;
    case absl::StatusCode::kNotFound:
      error.http_status = 404;
      error.type = "invalid_request_error";
      error.code = "model_not_found";
      break;
    case absl::StatusCode::kUnauthenticated:
      error.http_status = 401;
      error.type = "authentication_error";
      error.code = "invalid_api_key";
      break;
    case absl::StatusCode::kResourceExhausted:
    case absl::StatusCode::kUnavailable:
      error.http_status = 503;
      error.type = "server_error";
      error.code = "overloaded";
      break;
    default:
      error.http_status = 500;
      error.type = "server_error";
      break;
  }
  return error;
}

std::string ErrorBody(const ApiError& error) {
  Json json;
  json["error"] = {{"message", error.message},
                   {"type", error.type},
                   {"param", nullptr},
                   {"code", error.code.empty() ? Json(nullptr) : Json(error.code)}};
  return Dump(json);
}

std::string ModelsResponse(const std::string& model, int64_t created, int64_t context,
                           int64_t vocab_size) {
  Json entry;
  entry["id"] = model;
  entry["object"] = "model";
  entry["created"] = created;
  entry["owned_by"] = "favor";
  entry["meta"] = {{"n_ctx_train", context}, {"n_vocab", vocab_size}};
  Json json;
  json["object"] = "list";
  json["data"] = Json::array({entry});
  return Dump(json);
}

}  // namespace favor::server
