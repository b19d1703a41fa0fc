// The C++ API over the runtime: Model loads the weights once and caches one graph variant per
// attention choice and logits mode (copies of the exact graph sharing its packed weights), built
// on first use under a mutex; sessions are runtime sessions on them.
#include "favor/favor.h"
#include "favor/favor.hpp"

#include <cmath>
#include <mutex>

#include "absl/strings/str_cat.h"
#include "engine/core/status.h"
#include "engine/runtime/batch.h"
#include "engine/runtime/generation.h"
#include "engine/runtime/model.h"
#include "engine/runtime/scoring.h"
#include "engine/runtime/session.h"

namespace favor {

struct Tokenizer::Impl {
  const text::Tokenizer* tokenizer;
};

struct Model::Impl {
  std::string path;
  ModelOptions options;
  ModelInfo info;
  std::unique_ptr<runtime::Model> model;  // Weights, tokenizer and the exact graph, loaded once.
  Tokenizer::Impl tokenizer_impl{};
  std::unique_ptr<Tokenizer> tokenizer;  // A view of tokenizer_impl.
  // The attention variants made so far: copies of the exact graph sharing its packed weights.
  struct CachedVariant {
    AttentionSpec spec;
    runtime::Logits logits;
    runtime::ModelVariant variant;
  };
  mutable std::mutex mutex;
  mutable std::vector<std::unique_ptr<const CachedVariant>> variants;

  // The graph for an attention choice and logits mode, built once.
  absl::StatusOr<const runtime::ModelVariant*> Variant(const AttentionSpec& spec,
                                                       runtime::Logits logits) const;
};

absl::StatusOr<const runtime::ModelVariant*> Model::Impl::Variant(const AttentionSpec& spec,
                                                                  runtime::Logits logits) const {
  if (spec == AttentionSpec{} && logits == runtime::Logits::kLastPosition) {
    return &model->exact();
  }
  std::lock_guard<std::mutex> lock(mutex);
  for (const auto& cached : variants) {
    if (cached->spec == spec && cached->logits == logits) return &cached->variant;
  }
  FAVOR_ASSIGN_OR_RETURN(auto variant, model->Variant(spec, logits));
  variants.push_back(std::make_unique<const CachedVariant>(
      CachedVariant{.spec = spec, .logits = logits, .variant = std::move(variant)}));
  return &variants.back()->variant;
}

absl::StatusOr<std::vector<int32_t>> Tokenizer::Encode(const std::string& text,
                                                       bool add_bos) const {
  return impl_->tokenizer->Encode(text, add_bos);
}
absl::StatusOr<std::vector<int32_t>> Tokenizer::Encode(const std::string& text, bool add_bos,
                                                       bool parse_special) const {
  return impl_->tokenizer->Encode(
      text, text::EncodeOptions{.add_bos = add_bos, .parse_special = parse_special});
}
absl::StatusOr<std::string> Tokenizer::Decode(const std::vector<int32_t>& ids) const {
  return impl_->tokenizer->Decode(ids);
}
std::string Tokenizer::IdToPiece(int32_t id) const { return impl_->tokenizer->IdToPiece(id); }
int32_t Tokenizer::vocab_size() const { return impl_->tokenizer->vocab_size(); }
int32_t Tokenizer::bos_id() const { return impl_->tokenizer->bos_id(); }
int32_t Tokenizer::eos_id() const { return impl_->tokenizer->eos_id(); }
bool Tokenizer::add_bos() const { return impl_->tokenizer->add_bos(); }
bool Tokenizer::IsEndOfGeneration(int32_t id) const {
  return impl_->tokenizer->IsEndOfGeneration(id);
}

absl::StatusOr<std::shared_ptr<const Model>> Model::Load(const std::string& path,
                                                         const ModelOptions& options) {
  auto impl = std::make_unique<Impl>();
  impl->path = path;
  impl->options = options;
  auto model =
      runtime::Model::Load(path, {.tokenizer_path = options.tokenizer_path,
                                  .weights = options.bf16_weights ? DType::kBF16 : DType::kF32});
  if (!model.ok()) return model.status();
  impl->model = *std::move(model);
  const io::ModelConfig& c = impl->model->config();
  impl->info = {.path = path,
                .format = impl->model->file().format,
                .architecture = c.architecture,
                .layers = c.n_layers,
                .heads = c.n_heads,
                .kv_heads = c.n_kv_heads,
                .head_dim = c.head_dim(),
                .dim = c.dim,
                .vocab_size = c.vocab_size,
                .context = c.max_seq_len};
  impl->tokenizer_impl.tokenizer = &impl->model->tokenizer();
  impl->tokenizer.reset(new Tokenizer(&impl->tokenizer_impl));
  return std::shared_ptr<const Model>(new Model(std::move(impl)));
}

Model::Model(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Model::~Model() = default;
const ModelInfo& Model::info() const { return impl_->info; }
const Tokenizer& Model::tokenizer() const { return *impl_->tokenizer; }

// Tokens per forward pass when scoring (every position's logits are kept per pass).
constexpr int64_t kScoringBatch = 64;

static_assert(kRandomSeed == text::kRandomSeed, "one random-seed sentinel");
static_assert(FAVOR_RANDOM_SEED == kRandomSeed, "the C API's too");

const char* StopReasonName(StopReason reason) {
  return runtime::StopReasonName(static_cast<runtime::StopReason>(reason));
}

struct Session::Impl {
  std::shared_ptr<const Model> model;
  SessionOptions options;
  std::unique_ptr<runtime::Session> session;
};

absl::StatusOr<std::unique_ptr<Session>> Session::Create(std::shared_ptr<const Model> model,
                                                         const SessionOptions& options) {
  if (model == nullptr) return absl::InvalidArgumentError("Session::Create: no model");
  FAVOR_ASSIGN_OR_RETURN(const runtime::ModelVariant* variant,
                         model->impl_->Variant(options.attention, runtime::Logits::kLastPosition));
  FAVOR_ASSIGN_OR_RETURN(
      auto session,
      runtime::Session::Create(*variant, {.context = options.context,
                                          .threads = options.threads,
                                          .memory_limit_bytes = options.memory_limit_bytes}));
  auto impl = std::make_unique<Impl>();
  impl->model = std::move(model);
  impl->options = options;
  impl->session = std::move(session);
  return std::unique_ptr<Session>(new Session(std::move(impl)));
}

Session::Session(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Session::~Session() = default;

namespace {

// A prompt's tokens; `at_start`: the sequence is empty (BOS goes first only there).
absl::StatusOr<std::vector<int32_t>> PromptTokens(const text::Tokenizer& tokenizer,
                                                  const std::string& prompt,
                                                  const GenerateOptions& options, bool at_start) {
  FAVOR_ASSIGN_OR_RETURN(
      auto ids,
      tokenizer.Encode(
          prompt, text::EncodeOptions{.add_bos = options.add_bos && tokenizer.add_bos() && at_start,
                                      .parse_special = options.parse_special}));
  if (ids.empty()) {
    return absl::InvalidArgumentError("the prompt is empty and no BOS was asked for");
  }
  return ids;
}

runtime::GenerationOptions ToRuntime(const GenerateOptions& options) {
  const SamplingOptions& s = options.sampling;
  return {.sampling = {.temperature = s.temperature,
                       .top_k = s.top_k,
                       .top_p = s.top_p,
                       .min_p = s.min_p,
                       .repeat_penalty = s.repeat_penalty,
                       .repeat_last_n = s.repeat_last_n,
                       .seed = s.seed},
          .max_tokens = options.max_tokens,
          .stop_at_eos = options.stop_at_eos,
          .stop_strings = options.stop_strings};
}

Generation FromRuntime(runtime::GenerationResult result) {
  return Generation{.text = std::move(result.text),
                    .tokens = std::move(result.tokens),
                    .stop = static_cast<StopReason>(result.stop),
                    .stop_text = std::move(result.stop_text),
                    .seed = result.seed,
                    .prompt_tokens = result.prompt_tokens,
                    .prompt_seconds = result.prompt_seconds,
                    .generation_seconds = result.generation_seconds};
}

}  // namespace

absl::StatusOr<Generation> Session::Generate(const std::string& prompt,
                                             const GenerateOptions& options,
                                             const TokenCallback& on_token) {
  const text::Tokenizer& tokenizer = *impl_->model->impl_->tokenizer_impl.tokenizer;
  FAVOR_ASSIGN_OR_RETURN(auto ids,
                         PromptTokens(tokenizer, prompt, options, impl_->session->position() == 0));
  FAVOR_ASSIGN_OR_RETURN(auto result, runtime::Generate(*impl_->session, tokenizer, ids,
                                                        ToRuntime(options), on_token));
  return FromRuntime(std::move(result));
}

struct ModelAccess {
  static const text::Tokenizer& Tokenizer(const Model& model) {
    return *model.impl_->tokenizer_impl.tokenizer;
  }
  static absl::StatusOr<const runtime::ModelVariant*> Variant(const Model& model,
                                                              const AttentionSpec& spec) {
    return model.impl_->Variant(spec, runtime::Logits::kLastPosition);
  }
};

absl::StatusOr<std::vector<absl::StatusOr<Generation>>> GenerateBatch(
    std::shared_ptr<const Model> model, const std::vector<BatchPrompt>& prompts,
    const BatchOptions& options, const BatchTokenCallback& on_token) {
  if (model == nullptr) return absl::InvalidArgumentError("GenerateBatch: no model");
  const text::Tokenizer& tokenizer = ModelAccess::Tokenizer(*model);
  FAVOR_ASSIGN_OR_RETURN(const runtime::ModelVariant* variant,
                         ModelAccess::Variant(*model, options.attention));
  FAVOR_ASSIGN_OR_RETURN(
      auto batch, runtime::Batch::Create(*variant, tokenizer,
                                         {.slots = options.parallel,
                                          .context = options.context,
                                          .threads = options.threads,
                                          .memory_limit_bytes = options.memory_limit_bytes}));
  std::vector<absl::StatusOr<Generation>> results(prompts.size(),
                                                  absl::UnknownError("not generated"));
  size_t next = 0, done = 0;
  while (done < prompts.size()) {
    while (next < prompts.size() && batch->active() < batch->slots()) {
      const size_t index = next++;
      auto ids = PromptTokens(tokenizer, prompts[index].prompt, prompts[index].options, true);
      runtime::BatchRequest request;
      if (ids.ok()) request.prompt = *std::move(ids);
      request.generation = ToRuntime(prompts[index].options);
      if (on_token != nullptr) {
        request.on_token = [&on_token, index](int32_t token, const std::string& text) {
          return on_token(index, token, text);
        };
      }
      request.on_done = [&results, &done, index](absl::StatusOr<runtime::GenerationResult> r) {
        results[index] = r.ok() ? absl::StatusOr<Generation>(FromRuntime(*std::move(r)))
                                : absl::StatusOr<Generation>(r.status());
        ++done;
      };
      const auto added = ids.ok() ? batch->Add(std::move(request))
                                  : absl::StatusOr<runtime::SlotAssignment>(ids.status());
      if (!added.ok()) {
        results[index] = added.status();
        ++done;
      }
    }
    // A failed pass ends the requests in it with its error (their results); the rest go on.
    (void)batch->Step();
  }
  return results;
}

absl::StatusOr<TextScore> Session::Score(const std::string& text) {
  const text::Tokenizer& tokenizer = *impl_->model->impl_->tokenizer_impl.tokenizer;
  TextScore score;
  FAVOR_ASSIGN_OR_RETURN(score.tokens, tokenizer.Encode(text, true));
  if (score.tokens.size() < 2) {
    return absl::InvalidArgumentError("Score: the text has no token to predict");
  }
  const auto length = static_cast<int64_t>(score.tokens.size());
  if (length > impl_->session->context()) {
    return absl::OutOfRangeError(absl::StrCat("Score: the text has ", length,
                                              " tokens but the context holds ",
                                              impl_->session->context()));
  }
  // A sequence of its own, sized to the text (a short text does not reserve a whole context of
  // KV cache), on the all-positions graph of the session's attention.
  FAVOR_ASSIGN_OR_RETURN(
      const runtime::ModelVariant* variant,
      impl_->model->impl_->Variant(impl_->options.attention, runtime::Logits::kAllPositions));
  FAVOR_ASSIGN_OR_RETURN(
      auto scoring, runtime::Session::Create(
                        *variant, {.context = length,
                                   .threads = impl_->options.threads,
                                   // Every position's logits are kept per chunk: 64 rows of the
                                   // vocabulary, not 512 (as fast; an eighth of the memory).
                                   .max_batch = kScoringBatch,
                                   .memory_limit_bytes = impl_->options.memory_limit_bytes}));
  FAVOR_ASSIGN_OR_RETURN(const auto distributions, runtime::ScoreTokens(*scoring, score.tokens));
  for (size_t t = 1; t < score.tokens.size(); ++t) {
    const double log_prob =
        distributions.row(static_cast<int64_t>(t) - 1)[static_cast<size_t>(score.tokens[t])];
    score.log_probs.push_back(log_prob);
    score.total_log_prob += log_prob;
  }
  score.perplexity = std::exp(-score.total_log_prob / static_cast<double>(score.log_probs.size()));
  return score;
}

void Session::Reset() { impl_->session->Reset(); }
int64_t Session::position() const { return impl_->session->position(); }
int64_t Session::context() const { return impl_->session->context(); }
int64_t Session::state_bytes() const { return impl_->session->StateBytes(); }
const Model& Session::model() const { return *impl_->model; }

}  // namespace favor
