// The C API: handles wrap the C++ API's objects; every entry point catches what could escape
// (allocation failure) so that no C++ exception crosses into C.
#include "favor/favor.h"

#include <cstdlib>
#include <cstring>
#include <exception>
#include <memory>
#include <new>
#include <string>

#include "favor/favor.hpp"

struct favor_model {
  std::shared_ptr<const favor::Model> model;
};
struct favor_session {
  std::unique_ptr<favor::Session> session;
};
struct favor_error {
  favor_status code;
  std::string message;
};

namespace {

favor_status ToCode(absl::StatusCode code) {
  switch (code) {
    case absl::StatusCode::kOk:
      return FAVOR_OK;
    case absl::StatusCode::kInvalidArgument:
      return FAVOR_INVALID_ARGUMENT;
    case absl::StatusCode::kNotFound:
      return FAVOR_NOT_FOUND;
    case absl::StatusCode::kOutOfRange:
      return FAVOR_OUT_OF_RANGE;
    case absl::StatusCode::kFailedPrecondition:
      return FAVOR_FAILED_PRECONDITION;
    case absl::StatusCode::kResourceExhausted:
      return FAVOR_RESOURCE_EXHAUSTED;
    case absl::StatusCode::kInternal:
      return FAVOR_INTERNAL;
    default:
      return FAVOR_UNKNOWN;
  }
}

favor_status Fail(favor_status code, std::string message, favor_error** error) {
  if (error != nullptr) *error = new (std::nothrow) favor_error{code, std::move(message)};
  return code;
}

favor_status Fail(const absl::Status& status, favor_error** error) {
  return Fail(ToCode(status.code()), std::string(status.message()), error);
}

// Runs `body` (returning favor_status), turning exceptions into FAVOR_INTERNAL.
template <typename Body>
favor_status Guard(favor_error** error, Body&& body) {
  if (error != nullptr) *error = nullptr;
  try {
    return body();
  } catch (const std::exception& e) {
    return Fail(FAVOR_INTERNAL, e.what(), error);
  } catch (...) {
    return Fail(FAVOR_INTERNAL, "unknown error", error);
  }
}

std::string OrDefault(const char* text, const char* fallback) {
  return text != nullptr ? text : fallback;
}

// The C boundary: the session options' strings (attention) are parsed here, once.
absl::Status ToSessionOptions(const favor_session_options* options, favor::SessionOptions& cpp) {
  if (options == nullptr) return absl::OkStatus();
  cpp.context = options->context;
  cpp.threads = options->threads;
  favor::AttentionSpec& attention = cpp.attention;
  auto kind = favor::ParseAttentionKind(OrDefault(options->attention, "exact"));
  if (!kind.ok()) return kind.status();
  attention.kind = *kind;
  auto feature_kind = favor::ParseFeatureKind(OrDefault(options->features_kind, ""));
  if (!feature_kind.ok()) return feature_kind.status();
  attention.feature_kind = *feature_kind;
  attention.features = options->features;
  attention.seed = options->attention_seed;
  if (auto parsed = favor::ParseStatistics(OrDefault(options->statistics, ""), attention);
      !parsed.ok()) {
    return parsed;
  }
  favor::ParsePlan(OrDefault(options->plan, ""), attention);
  if (options->window >= 0) attention.window = options->window;
  if (options->sinks >= 0) attention.sinks = options->sinks;
  cpp.memory_limit_bytes = options->memory_limit_bytes;
  return absl::OkStatus();
}

absl::Status ToGenerateOptions(const favor_generate_options* options, const char* function,
                               favor::GenerateOptions& cpp) {
  if (options == nullptr) return absl::OkStatus();
  cpp.sampling = {.temperature = options->temperature,
                  .top_k = options->top_k,
                  .top_p = options->top_p,
                  .min_p = options->min_p,
                  .repeat_penalty = options->repeat_penalty,
                  .repeat_last_n = options->repeat_last_n,
                  .seed = options->seed};
  cpp.max_tokens = options->max_tokens;
  cpp.stop_at_eos = options->stop_at_eos != 0;
  for (size_t i = 0; i < options->stop_string_count; ++i) {
    if (options->stop_strings[i] == nullptr) {
      return absl::InvalidArgumentError(std::string(function) + ": a stop string is NULL");
    }
    cpp.stop_strings.emplace_back(options->stop_strings[i]);
  }
  return absl::OkStatus();
}

// A copy for the caller, freed with favor_string_free; NULL when out of memory.
char* CopyString(const std::string& text) {
  auto* copy = static_cast<char*>(std::malloc(text.size() + 1));
  if (copy != nullptr) std::memcpy(copy, text.c_str(), text.size() + 1);
  return copy;
}

}  // namespace

extern "C" {

const char* favor_version(void) { return FAVOR_VERSION_STRING; }

favor_status favor_error_code(const favor_error* error) {
  return error != nullptr ? error->code : FAVOR_OK;
}
const char* favor_error_message(const favor_error* error) {
  return error != nullptr ? error->message.c_str() : "";
}
void favor_error_free(favor_error* error) { delete error; }

void favor_model_options_init(favor_model_options* options) {
  *options = favor_model_options{nullptr, 0};
}

favor_status favor_model_load(const char* path, const favor_model_options* options,
                              favor_model** model, favor_error** error) {
  return Guard(error, [&] {
    if (path == nullptr || model == nullptr) {
      return Fail(FAVOR_INVALID_ARGUMENT, "favor_model_load: path and model must not be NULL",
                  error);
    }
    favor::ModelOptions cpp;
    if (options != nullptr) {
      cpp.tokenizer_path = OrDefault(options->tokenizer_path, "");
      cpp.bf16_weights = options->bf16_weights != 0;
    }
    auto loaded = favor::Model::Load(path, cpp);
    if (!loaded.ok()) return Fail(loaded.status(), error);
    *model = new favor_model{*std::move(loaded)};
    return FAVOR_OK;
  });
}

void favor_model_free(favor_model* model) { delete model; }
int64_t favor_model_vocab_size(const favor_model* model) {
  return model != nullptr ? model->model->info().vocab_size : 0;
}
int64_t favor_model_context(const favor_model* model) {
  return model != nullptr ? model->model->info().context : 0;
}

favor_status favor_tokenize(const favor_model* model, const char* text, int add_bos, int32_t* ids,
                            size_t capacity, size_t* count, favor_error** error) {
  return Guard(error, [&] {
    if (model == nullptr || text == nullptr || count == nullptr || (ids == nullptr && capacity)) {
      return Fail(FAVOR_INVALID_ARGUMENT, "favor_tokenize: NULL argument", error);
    }
    auto tokens = model->model->tokenizer().Encode(text, add_bos != 0);
    if (!tokens.ok()) return Fail(tokens.status(), error);
    *count = tokens->size();
    if (tokens->size() > capacity) {
      return Fail(FAVOR_OUT_OF_RANGE,
                  "favor_tokenize: " + std::to_string(tokens->size()) + " tokens, room for " +
                      std::to_string(capacity),
                  error);
    }
    std::memcpy(ids, tokens->data(), tokens->size() * sizeof(int32_t));
    return FAVOR_OK;
  });
}

void favor_session_options_init(favor_session_options* options) {
  const favor::SessionOptions defaults;
  *options = favor_session_options{.context = defaults.context,
                                   .threads = defaults.threads,
                                   .attention = nullptr,
                                   .features_kind = nullptr,
                                   .features = defaults.attention.features,
                                   .attention_seed = defaults.attention.seed,
                                   .statistics = nullptr,
                                   .plan = nullptr,
                                   .window = -1,
                                   .sinks = -1,
                                   .memory_limit_bytes = defaults.memory_limit_bytes};
}

favor_status favor_session_create(const favor_model* model, const favor_session_options* options,
                                  favor_session** session, favor_error** error) {
  return Guard(error, [&] {
    if (model == nullptr || session == nullptr) {
      return Fail(FAVOR_INVALID_ARGUMENT, "favor_session_create: NULL argument", error);
    }
    favor::SessionOptions cpp;
    if (const absl::Status parsed = ToSessionOptions(options, cpp); !parsed.ok()) {
      return Fail(parsed, error);
    }
    auto created = favor::Session::Create(model->model, cpp);
    if (!created.ok()) return Fail(created.status(), error);
    *session = new favor_session{*std::move(created)};
    return FAVOR_OK;
  });
}

void favor_session_free(favor_session* session) { delete session; }
void favor_session_reset(favor_session* session) {
  if (session != nullptr) session->session->Reset();
}
int64_t favor_session_position(const favor_session* session) {
  return session != nullptr ? session->session->position() : 0;
}
int64_t favor_session_state_bytes(const favor_session* session) {
  return session != nullptr ? session->session->state_bytes() : 0;
}

void favor_generate_options_init(favor_generate_options* options) {
  const favor::GenerateOptions defaults;
  const favor::SamplingOptions& s = defaults.sampling;
  *options = favor_generate_options{.temperature = s.temperature,
                                    .top_k = s.top_k,
                                    .top_p = s.top_p,
                                    .min_p = s.min_p,
                                    .repeat_penalty = s.repeat_penalty,
                                    .repeat_last_n = s.repeat_last_n,
                                    .seed = s.seed,
                                    .max_tokens = defaults.max_tokens,
                                    .stop_at_eos = defaults.stop_at_eos ? 1 : 0,
                                    .stop_strings = nullptr,
                                    .stop_string_count = 0};
}

favor_status favor_generate(favor_session* session, const char* prompt,
                            const favor_generate_options* options, favor_token_callback callback,
                            void* user_data, char** text, favor_error** error) {
  return Guard(error, [&] {
    if (session == nullptr || prompt == nullptr) {
      return Fail(FAVOR_INVALID_ARGUMENT, "favor_generate: NULL argument", error);
    }
    favor::GenerateOptions cpp;
    if (const absl::Status parsed = ToGenerateOptions(options, "favor_generate", cpp);
        !parsed.ok()) {
      return Fail(parsed, error);
    }
    favor::TokenCallback on_token;
    if (callback != nullptr) {
      on_token = [&](int32_t token, const std::string& piece) {
        return callback(token, piece.data(), piece.size(), user_data) != 0;
      };
    }
    auto result = session->session->Generate(prompt, cpp, on_token);
    if (!result.ok()) return Fail(result.status(), error);
    if (text != nullptr) {
      *text = CopyString(result->text);
      if (*text == nullptr) return Fail(FAVOR_RESOURCE_EXHAUSTED, "out of memory", error);
    }
    return FAVOR_OK;
  });
}

favor_status favor_generate_batch(const favor_model* model,
                                  const favor_session_options* session_options, int parallel,
                                  const char* const* prompts, size_t count,
                                  const favor_generate_options* options,
                                  favor_batch_token_callback callback, void* user_data,
                                  char** texts, favor_status* statuses, favor_error** error) {
  return Guard(error, [&] {
    if (model == nullptr || (count > 0 && (prompts == nullptr || texts == nullptr))) {
      return Fail(FAVOR_INVALID_ARGUMENT, "favor_generate_batch: NULL argument", error);
    }
    favor::SessionOptions session;
    if (const absl::Status parsed = ToSessionOptions(session_options, session); !parsed.ok()) {
      return Fail(parsed, error);
    }
    favor::GenerateOptions generate;
    if (const absl::Status parsed = ToGenerateOptions(options, "favor_generate_batch", generate);
        !parsed.ok()) {
      return Fail(parsed, error);
    }
    std::vector<favor::BatchPrompt> batch;
    for (size_t i = 0; i < count; ++i) {
      if (prompts[i] == nullptr) {
        return Fail(FAVOR_INVALID_ARGUMENT, "favor_generate_batch: a prompt is NULL", error);
      }
      batch.push_back({.prompt = prompts[i], .options = generate});
    }
    favor::BatchTokenCallback on_token;
    if (callback != nullptr) {
      on_token = [&](size_t index, int32_t token, const std::string& piece) {
        return callback(index, token, piece.data(), piece.size(), user_data) != 0;
      };
    }
    auto results = favor::GenerateBatch(model->model, batch,
                                        {.parallel = parallel,
                                         .context = session.context,
                                         .threads = session.threads,
                                         .attention = session.attention,
                                         .memory_limit_bytes = session.memory_limit_bytes},
                                        on_token);
    if (!results.ok()) return Fail(results.status(), error);
    for (size_t i = 0; i < count; ++i) {
      const auto& result = (*results)[i];
      texts[i] = result.ok() ? CopyString(result->text) : nullptr;
      if (statuses != nullptr) {
        statuses[i] = result.ok() ? (texts[i] != nullptr ? FAVOR_OK : FAVOR_RESOURCE_EXHAUSTED)
                                  : ToCode(result.status().code());
      }
    }
    return FAVOR_OK;
  });
}

void favor_string_free(char* text) { std::free(text); }

favor_status favor_score(favor_session* session, const char* text, double* total_log_prob,
                         int64_t* predicted_tokens, favor_error** error) {
  return Guard(error, [&] {
    if (session == nullptr || text == nullptr) {
      return Fail(FAVOR_INVALID_ARGUMENT, "favor_score: NULL argument", error);
    }
    auto score = session->session->Score(text);
    if (!score.ok()) return Fail(score.status(), error);
    if (total_log_prob != nullptr) *total_log_prob = score->total_log_prob;
    if (predicted_tokens != nullptr) {
      *predicted_tokens = static_cast<int64_t>(score->log_probs.size());
    }
    return FAVOR_OK;
  });
}

}  // extern "C"
