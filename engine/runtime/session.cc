#include "engine/runtime/session.h"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <map>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "engine/core/checked_math.h"
#include "engine/core/memory_budget.h"
#include "engine/core/status.h"
#include "engine/ops/matmul.h"

namespace favor::runtime {
namespace {

// Where the matrix weights live, for -v: read in place as stored (quantized types, views of the
// mapped file), repacked once with 8 rows interleaved (the file's pages released), or packed
// copies (f32/bf16 for oneDNN), by type.
std::string WeightPlacement(const Graph& graph) {
  std::map<std::string, int> in_place, interleaved, packed;
  int64_t in_place_bytes = 0, interleaved_bytes = 0, packed_bytes = 0;
  for (int id = 0; id < graph.num_nodes(); ++id) {
    const Node& node = graph.node(id);
    const auto* matmul = dynamic_cast<const MatMulOp*>(node.op.get());
    if (node.removed || matmul == nullptr) continue;
    const std::string type(DTypeName(matmul->weight_type()));
    if (matmul->InterleavesWeights()) {
      ++interleaved[type];
      interleaved_bytes += matmul->PackedWeightBytes();
    } else if (matmul->ReadsWeightsInPlace()) {
      ++in_place[type];
      in_place_bytes += matmul->WeightBytes();
    } else {
      ++packed[type];
      packed_bytes += matmul->WeightBytes();
    }
  }
  auto counts = [](const std::map<std::string, int>& by_type) {
    std::vector<std::string> parts;
    for (const auto& [type, count] : by_type) parts.push_back(absl::StrCat(type, " x", count));
    return parts.empty() ? std::string("none") : absl::StrJoin(parts, ", ");
  };
  return absl::StrCat(
      "matrices read in place as stored: ", counts(in_place), " (", FormatBytes(in_place_bytes),
      "); repacked with 8 rows interleaved, the file's pages released: ", counts(interleaved), " (",
      FormatBytes(interleaved_bytes), "); packed copies: ", counts(packed), " (",
      FormatBytes(packed_bytes), ")");
}

}  // namespace

absl::StatusOr<std::unique_ptr<Session>> Session::Create(const ModelVariant& variant,
                                                         const SessionOptions& options) {
  const int64_t trained = variant.trained_context;
  const int64_t context = options.context > 0 ? options.context : trained;
  if (options.context < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("context must be positive, got ", options.context));
  }
  if (options.max_batch <= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("batch must be positive, got ", options.max_batch));
  }
  std::unique_ptr<Session> session(new Session());
  session->context_ = context;
  session->vocab_ = variant.vocab_size;
  FAVOR_ASSIGN_OR_RETURN(
      session->executor_,
      Executor::Create(variant.graph, {.max_seq_len = std::min(options.max_batch, context),
                                       .threads = options.threads,
                                       .verbose = options.verbose,
                                       .profile = options.profile}));
  if (options.verbose) {
    std::fprintf(stderr, "favor: weights: %s\n", WeightPlacement(*variant.graph).c_str());
  }
  const StateOptions state_options{.max_context = context};
  // Checked before allocating: zeroing a state larger than the machine would end in the OOM
  // killer, not in an error.
  const int64_t state_bytes = session->executor_->StateBytes(state_options);
  const int64_t needed = SaturatingAdd(state_bytes, session->executor_->arena_bytes());
  const int64_t limit =
      options.memory_limit_bytes > 0 ? options.memory_limit_bytes : MachineMemoryBytes();
  if (limit > 0 && needed > limit) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "a context of ", context, " tokens needs ",
        state_bytes == kSaturated ? "more than 8 EiB" : FormatBytes(state_bytes),
        " of sequence state (KV caches and attention state) plus ",
        FormatBytes(session->executor_->arena_bytes()), " of activations, more than the ",
        FormatBytes(limit), options.memory_limit_bytes > 0 ? " allowed" : " this machine has",
        "; use a smaller context (-c) or fewer random features (--features)"));
  }
  FAVOR_ASSIGN_OR_RETURN(session->state_, session->executor_->CreateState(state_options));
  FAVOR_ASSIGN_OR_RETURN(session->token_buffer_,
                         Tensor::Allocate(DType::kI32, Shape{session->executor_->max_seq_len()}));
  return session;
}

absl::StatusOr<std::span<const float>> Session::Feed(std::span<const int32_t> tokens) {
  if (tokens.empty()) return absl::InvalidArgumentError("no tokens to feed");
  if (static_cast<int64_t>(tokens.size()) > context_ - position()) {
    return absl::OutOfRangeError(absl::StrCat("context full: ", position(), " + ", tokens.size(),
                                              " tokens exceed the context of ", context_));
  }
  for (int32_t id : tokens) {
    if (id < 0 || id >= vocab_) {
      return absl::OutOfRangeError(
          absl::StrCat("token id ", id, " outside the vocabulary of ", vocab_));
    }
  }
  const int64_t batch = executor_->max_seq_len();
  for (size_t start = 0; start < tokens.size(); start += static_cast<size_t>(batch)) {
    const int64_t count = std::min<int64_t>(batch, static_cast<int64_t>(tokens.size() - start));
    std::memcpy(token_buffer_.mutable_data<int32_t>(), tokens.data() + start,
                static_cast<size_t>(count) * sizeof(int32_t));
    FAVOR_ASSIGN_OR_RETURN(const Tensor chunk, token_buffer_.Slice(0, count));
    FAVOR_RETURN_IF_ERROR(executor_->Run({chunk}, *state_));
  }
  const Tensor& logits = executor_->output(0);
  return std::span<const float>(logits.data<float>(), static_cast<size_t>(logits.NumElements()));
}

}  // namespace favor::runtime
