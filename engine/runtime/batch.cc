#include "engine/runtime/batch.h"

#include <algorithm>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "engine/core/checked_math.h"
#include "engine/core/memory_budget.h"
#include "engine/core/status.h"

namespace favor::runtime {
namespace {

using Clock = std::chrono::steady_clock;

double Seconds(Clock::time_point start, Clock::time_point end) {
  return std::chrono::duration<double>(end - start).count();
}

// How many leading tokens of `held` and `prompt` agree.
size_t CommonPrefix(const std::vector<int32_t>& held, const std::vector<int32_t>& prompt) {
  const size_t n = std::min(held.size(), prompt.size());
  size_t i = 0;
  while (i < n && held[i] == prompt[i]) ++i;
  return i;
}

}  // namespace

absl::StatusOr<std::unique_ptr<Batch>> Batch::Create(const ModelVariant& variant,
                                                     const text::Tokenizer& tokenizer,
                                                     const BatchOptions& options) {
  if (options.slots < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("a batch needs at least one slot, got ", options.slots));
  }
  if (options.context < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("context must be positive, got ", options.context));
  }
  if (options.max_batch < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("the prompt tokens of a step must be positive, got ", options.max_batch));
  }
  std::unique_ptr<Batch> batch(new Batch());
  batch->tokenizer_ = &tokenizer;
  batch->context_ = options.context > 0 ? options.context : variant.trained_context;
  batch->vocab_ = variant.vocab_size;
  batch->max_batch_ = options.max_batch;
  FAVOR_ASSIGN_OR_RETURN(
      batch->executor_,
      Executor::Create(variant.graph, {.max_seq_len = options.max_batch + options.slots,
                                       .max_sequences = options.slots,
                                       .threads = options.threads,
                                       .verbose = options.verbose}));
  const StateOptions state_options{.max_context = batch->context_};
  batch->state_bytes_per_slot_ = batch->executor_->StateBytes(state_options);
  // Checked before allocating, as Session does: every slot's state is allocated up front.
  const int64_t needed = SaturatingAdd(SaturatingMul(batch->state_bytes_per_slot_, options.slots),
                                       batch->executor_->arena_bytes());
  const int64_t limit =
      options.memory_limit_bytes > 0 ? options.memory_limit_bytes : MachineMemoryBytes();
  if (limit > 0 && needed > limit) {
    return absl::ResourceExhaustedError(absl::StrCat(
        options.slots, " slots of ", batch->context_, " tokens need ",
        FormatBytes(batch->state_bytes_per_slot_), " of sequence state each plus ",
        FormatBytes(batch->executor_->arena_bytes()), " of activations, more than the ",
        FormatBytes(limit), options.memory_limit_bytes > 0 ? " allowed" : " this machine has",
        "; use fewer slots (--parallel), a smaller context (-c) or hybrid attention"));
  }
  batch->slots_.resize(static_cast<size_t>(options.slots));
  for (Slot& slot : batch->slots_) {
    FAVOR_ASSIGN_OR_RETURN(slot.state, batch->executor_->CreateState(state_options));
  }
  FAVOR_ASSIGN_OR_RETURN(batch->token_buffer_,
                         Tensor::Allocate(DType::kI32, Shape{options.max_batch + options.slots}));
  batch->runs_.reserve(batch->slots_.size());
  batch->run_slots_.reserve(batch->slots_.size());
  batch->prefill_order_.reserve(batch->slots_.size());
  return batch;
}

int Batch::active() const {
  return static_cast<int>(
      std::count_if(slots_.begin(), slots_.end(), [](const Slot& s) { return s.active; }));
}

absl::StatusOr<SlotAssignment> Batch::Add(BatchRequest request) {
  const std::vector<int32_t>& prompt = request.prompt;
  if (prompt.empty()) return absl::InvalidArgumentError("the prompt has no tokens");
  if (static_cast<int64_t>(prompt.size()) >= context_) {
    return absl::OutOfRangeError(absl::StrCat("the prompt has ", prompt.size(),
                                              " tokens but the context has room for ", context_ - 1,
                                              " (context ", context_, ")"));
  }
  for (int32_t id : prompt) {
    if (id < 0 || id >= vocab_) {
      return absl::OutOfRangeError(
          absl::StrCat("token id ", id, " outside the vocabulary of ", vocab_));
    }
  }
  // A free slot that holds a prefix of the prompt (leaving at least one token to feed: its logits
  // start the generation), else the least recently used one.
  Slot* chosen = nullptr;
  size_t reuse = 0;
  for (Slot& slot : slots_) {
    if (slot.active) continue;
    const size_t common = CommonPrefix(slot.held, prompt);
    const bool holds_prefix = common == slot.held.size() && common < prompt.size();
    const size_t usable = holds_prefix ? common : 0;
    if (chosen == nullptr || usable > reuse ||
        (usable == reuse && slot.last_used < chosen->last_used)) {
      chosen = &slot;
      reuse = usable;
    }
  }
  if (chosen == nullptr) {
    return absl::ResourceExhaustedError(
        absl::StrCat("all ", slots_.size(), " slots are generating"));
  }
  FAVOR_ASSIGN_OR_RETURN(auto generator,
                         SequenceGenerator::Create(*tokenizer_, prompt, request.generation));
  Slot& slot = *chosen;
  if (reuse == 0) {
    // Recurrent states (FAVOR#, hybrid) cannot be rewound: a slot not holding a prefix restarts.
    slot.state->Reset();
    slot.held.clear();
  }
  slot.active = true;
  slot.request = std::move(request);
  slot.generator = std::move(generator);
  slot.prompt_fed = reuse;
  slot.next.reset();
  slot.admitted = ++clock_;
  slot.last_used = clock_;
  slot.prompt_start = Clock::now();
  slot.generator->result().prompt_tokens = static_cast<int64_t>(slot.request.prompt.size());
  return SlotAssignment{static_cast<int>(chosen - slots_.data()), static_cast<int64_t>(reuse)};
}

void Batch::End(Slot& slot, absl::StatusOr<GenerationResult> outcome) {
  slot.active = false;
  slot.last_used = ++clock_;
  slot.next.reset();
  slot.generator.reset();
  auto on_done = std::move(slot.request.on_done);
  slot.request = BatchRequest();
  if (on_done) on_done(std::move(outcome));
}

void Batch::Cancel(int slot_index) {
  if (slot_index < 0 || slot_index >= slots()) return;
  Slot& slot = slots_[static_cast<size_t>(slot_index)];
  if (!slot.active) return;
  const absl::Status finished = slot.generator->Cancel(slot.request.on_token);
  if (!finished.ok()) {
    End(slot, finished);
    return;
  }
  GenerationResult result = std::move(slot.generator->result());
  End(slot, std::move(result));
}

absl::Status Batch::Step() {
  runs_.clear();
  run_slots_.clear();
  last_decoded_ = last_prefilled_ = 0;
  int32_t* tokens = token_buffer_.mutable_data<int32_t>();
  int64_t count = 0;
  // Generating slots first: one token each.
  for (size_t i = 0; i < slots_.size(); ++i) {
    Slot& slot = slots_[i];
    if (!slot.active || !slot.next.has_value()) continue;
    tokens[count++] = *slot.next;
    runs_.push_back({slot.state.get(), 1});
    run_slots_.push_back(i);
    ++last_decoded_;
  }
  // Then prompt chunks, first come first served, up to max_batch tokens. A sequence's first chunk
  // is what a Session with that max_batch would feed first (all of the prompt up to max_batch)
  // or waits: random-feature attention fits its statistics to a sequence's first run.
  prefill_order_.clear();
  for (size_t i = 0; i < slots_.size(); ++i) {
    if (slots_[i].active && !slots_[i].next.has_value()) prefill_order_.push_back(i);
  }
  std::sort(prefill_order_.begin(), prefill_order_.end(),
            [&](size_t a, size_t b) { return slots_[a].admitted < slots_[b].admitted; });
  for (size_t i : prefill_order_) {
    Slot& slot = slots_[i];
    const int64_t room = max_batch_ - last_prefilled_;
    if (room <= 0) break;
    const int64_t left = static_cast<int64_t>(slot.request.prompt.size() - slot.prompt_fed);
    const int64_t chunk = std::min(room, left);
    if (slot.state->position() == 0 && chunk < std::min(left, max_batch_)) continue;
    std::memcpy(tokens + count, slot.request.prompt.data() + slot.prompt_fed,
                static_cast<size_t>(chunk) * sizeof(int32_t));
    count += chunk;
    runs_.push_back({slot.state.get(), chunk});
    run_slots_.push_back(i);
    last_prefilled_ += chunk;
  }
  if (runs_.empty()) return absl::OkStatus();

  FAVOR_ASSIGN_OR_RETURN(const Tensor input, token_buffer_.Slice(0, count));
  const absl::Status run = executor_->Run(std::span<const Tensor>(&input, 1), runs_);
  if (!run.ok()) {
    // A pass that failed part-way leaves the states of its sequences unknown: they start over.
    for (size_t i : run_slots_) {
      Slot& slot = slots_[i];
      slot.state->Reset();
      slot.held.clear();
      End(slot, run);
    }
    return run;
  }
  const Tensor& logits = executor_->output(0);
  const int64_t width = logits.dim(1);
  const auto now = Clock::now();
  int64_t row = 0;
  for (size_t r = 0; r < run_slots_.size(); ++r) {
    Slot& slot = slots_[run_slots_[r]];
    const int32_t* fed = tokens + row;
    row += runs_[r].tokens;
    slot.held.insert(slot.held.end(), fed, fed + runs_[r].tokens);
    if (!slot.next.has_value()) {
      slot.prompt_fed += static_cast<size_t>(runs_[r].tokens);
      if (slot.prompt_fed < slot.request.prompt.size()) continue;  // More prompt to come.
      slot.generator->result().prompt_seconds = Seconds(slot.prompt_start, now);
      slot.generation_start = now;
    }
    const std::span<const float> row_logits(logits.data<float>() + static_cast<int64_t>(r) * width,
                                            static_cast<size_t>(width));
    auto next =
        slot.generator->Next(row_logits, slot.state->position(), context_, slot.request.on_token);
    if (!next.ok()) {
      End(slot, next.status());
      continue;
    }
    slot.next = *next;
    if (slot.next.has_value()) continue;
    const absl::Status finished = slot.generator->Finish(slot.request.on_token);
    if (!finished.ok()) {
      End(slot, finished);
      continue;
    }
    slot.generator->result().generation_seconds = Seconds(slot.generation_start, Clock::now());
    GenerationResult result = std::move(slot.generator->result());
    End(slot, std::move(result));
  }
  return absl::OkStatus();
}

}  // namespace favor::runtime
