#include "server/scheduler.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "engine/core/status.h"

namespace favor::server {
namespace {

using Clock = std::chrono::steady_clock;

double Seconds(Clock::time_point from, Clock::time_point to) {
  return std::chrono::duration<double>(to - from).count();
}

// Two requests share a batch when they ask for the same attention.
std::string SpecKey(const AttentionSpec& spec) {
  return absl::StrCat(std::string(AttentionKindName(spec.kind)), "/",
                      std::string(FeatureKindName(spec.feature_kind)), "/", spec.features, "/",
                      spec.seed, "/", spec.window.value_or(-1), "/", spec.sinks.value_or(-1), "/",
                      StatisticsName(spec), "/", static_cast<int>(spec.plan), spec.plan_file, "/",
                      spec.chunk, "/", absl::StrJoin(spec.layers, ","));
}

}  // namespace

absl::StatusOr<std::unique_ptr<Scheduler>> Scheduler::Create(const runtime::Model& model,
                                                             const std::string& model_path,
                                                             const AttentionSpec& attention,
                                                             const SchedulerOptions& options,
                                                             Metrics* metrics) {
  if (options.parallel < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("--parallel must be at least 1, got ", options.parallel));
  }
  if (options.max_queue < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("the queue length must be >= 0, got ", options.max_queue));
  }
  std::unique_ptr<Scheduler> scheduler(new Scheduler(model, options, metrics));
  scheduler->model_path_ = model_path;
  scheduler->default_spec_ = attention;
  FAVOR_ASSIGN_OR_RETURN(auto engine, scheduler->MakeEngine(attention));
  scheduler->default_attention_ = engine->variant.attention;
  scheduler->state_bytes_per_slot_ = engine->batch->StateBytesPerSlot();
  scheduler->context_ = engine->batch->context();
  scheduler->engines_.push_back(std::move(engine));
  if (metrics != nullptr) metrics->SetSlots(options.parallel, scheduler->state_bytes_per_slot_);
  scheduler->UpdateLoad();
  scheduler->thread_ = std::thread([s = scheduler.get()] { s->Loop(); });
  return scheduler;
}

Scheduler::~Scheduler() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

absl::StatusOr<std::unique_ptr<Scheduler::Engine>> Scheduler::MakeEngine(
    const AttentionSpec& attention) {
  auto engine = std::make_unique<Engine>();
  engine->key = SpecKey(attention);
  FAVOR_ASSIGN_OR_RETURN(engine->variant, model_.Variant(attention));
  FAVOR_ASSIGN_OR_RETURN(engine->batch,
                         runtime::Batch::Create(engine->variant, model_.tokenizer(),
                                                {.slots = options_.parallel,
                                                 .context = options_.context,
                                                 .threads = options_.threads,
                                                 .max_batch = options_.max_batch,
                                                 .memory_limit_bytes = options_.memory_limit_bytes,
                                                 .verbose = options_.verbose && engines_.empty()}));
  return engine;
}

absl::StatusOr<Scheduler::Engine*> Scheduler::EngineFor(
    const std::optional<AttentionSpec>& attention) {
  const std::string key = attention.has_value() ? SpecKey(*attention) : engines_.front()->key;
  for (auto& engine : engines_) {
    if (engine->key == key) {
      engine->last_used = ++clock_;
      return engine.get();
    }
  }
  if (static_cast<int>(engines_.size()) >= std::max(options_.max_attentions, 1)) {
    // Evict the least recently used idle batch of another attention than the server's.
    auto victim = engines_.end();
    for (auto it = engines_.begin() + 1; it != engines_.end(); ++it) {
      if ((*it)->batch->active() == 0 &&
          (victim == engines_.end() || (*it)->last_used < (*victim)->last_used)) {
        victim = it;
      }
    }
    if (victim == engines_.end()) {
      return absl::ResourceExhaustedError(absl::StrCat(
          "requests of ", engines_.size(),
          " different attentions are generating, the most this server keeps; retry later"));
    }
    engines_.erase(victim);
  }
  auto made = MakeEngine(*attention);
  if (!made.ok()) {
    // The request's attention, not the server, is at fault.
    return absl::InvalidArgumentError(absl::StrCat("attention: ", made.status().message()));
  }
  (*made)->last_used = ++clock_;
  engines_.push_back(*std::move(made));
  return engines_.back().get();
}

absl::StatusOr<uint64_t> Scheduler::Submit(Job job) {
  uint64_t id = 0;
  {
    std::lock_guard lock(mutex_);
    if (draining_ || stopping_) return absl::UnavailableError("the server is shutting down");
    const bool free_slot = static_cast<int>(running_.size() + queue_.size()) < options_.parallel;
    if (!free_slot && static_cast<int>(queue_.size()) >= options_.max_queue) {
      return absl::ResourceExhaustedError(absl::StrCat("the server is busy: ", running_.size(),
                                                       " requests generating and ", queue_.size(),
                                                       " waiting; retry later"));
    }
    id = next_id_++;
    queue_.push_back({id, std::move(job), Clock::now()});
  }
  // The gauges are the scheduler thread's to update (UpdateLoad reads its batches): it wakes now.
  wake_.notify_all();
  return id;
}

void Scheduler::Cancel(uint64_t id) {
  {
    std::lock_guard lock(mutex_);
    cancels_.insert(id);
  }
  wake_.notify_all();
}

void Scheduler::Drain(std::chrono::milliseconds grace) {
  std::unique_lock lock(mutex_);
  draining_ = true;
  idle_.wait_for(lock, grace, [&] { return queue_.empty() && running_.empty(); });
  stopping_ = true;
  lock.unlock();
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

int Scheduler::ActiveLocked() const { return static_cast<int>(running_.size()); }

void Scheduler::UpdateLoad() {
  if (metrics_ == nullptr) return;
  int queued = 0, active = 0;
  {
    std::lock_guard lock(mutex_);
    queued = static_cast<int>(queue_.size());
    active = ActiveLocked();
  }
  // Engines belong to the scheduler thread; their count only changes there, and Create runs
  // before the thread starts.
  int64_t state = 0;
  for (const auto& engine : engines_) {
    state += engine->batch->StateBytesPerSlot() * engine->batch->slots();
  }
  metrics_->SetLoad(queued, active, state);
}

void Scheduler::Admit(Queued queued) {
  const uint64_t id = queued.id;
  Job& job = queued.job;
  auto engine = EngineFor(job.attention);
  if (!engine.ok()) {
    job.on_done(engine.status());
    return;
  }
  Engine* chosen = *engine;
  const Clock::time_point arrived = queued.arrived;
  const Clock::time_point admitted = Clock::now();
  auto first_token = std::make_shared<std::optional<Clock::time_point>>();
  auto cached = std::make_shared<int64_t>(0);
  runtime::BatchRequest request;
  request.prompt = std::move(job.prompt);
  request.generation = job.generation;
  request.on_token = [first_token, on_token = job.on_token](int32_t token,
                                                            const std::string& text) {
    if (!first_token->has_value()) *first_token = Clock::now();
    return on_token == nullptr || on_token(token, text);
  };
  request.on_done = [this, id, chosen, arrived, admitted, first_token, cached,
                     on_done = job.on_done](absl::StatusOr<runtime::GenerationResult> outcome) {
    {
      std::lock_guard lock(mutex_);
      running_.erase(id);
    }
    if (!outcome.ok()) {
      on_done(outcome.status());
      return;
    }
    JobResult result;
    result.generation = *std::move(outcome);
    result.cached_tokens = *cached;
    result.attention = chosen->variant.attention;
    result.state_bytes = chosen->batch->StateBytesPerSlot();
    result.queue_seconds = Seconds(arrived, admitted);
    if (metrics_ != nullptr) {
      const auto now = Clock::now();
      metrics_->CountGeneration(result.generation.prompt_tokens, result.cached_tokens,
                                static_cast<int64_t>(result.generation.tokens.size()),
                                result.queue_seconds, Seconds(arrived, first_token->value_or(now)),
                                Seconds(arrived, now));
    }
    on_done(std::move(result));
  };
  auto on_refused = job.on_done;
  auto assignment = chosen->batch->Add(std::move(request));
  if (!assignment.ok()) {
    on_refused(assignment.status());
    return;
  }
  *cached = assignment->reused_tokens;
  std::lock_guard lock(mutex_);
  running_[id] = {chosen, assignment->slot};
}

void Scheduler::Loop() {
  std::vector<Queued> admit;
  std::vector<Queued> dropped;
  std::vector<Running> cancelled;
  while (true) {
    admit.clear();
    dropped.clear();
    cancelled.clear();
    {
      std::unique_lock lock(mutex_);
      wake_.wait(lock, [&] {
        return stopping_ || !cancels_.empty() || !running_.empty() ||
               (!queue_.empty() && ActiveLocked() < options_.parallel);
      });
      if (stopping_) break;
      for (const uint64_t id : cancels_) {
        if (const auto it = running_.find(id); it != running_.end()) {
          cancelled.push_back(it->second);
          continue;
        }
        const auto queued = std::find_if(queue_.begin(), queue_.end(),
                                         [id](const Queued& q) { return q.id == id; });
        if (queued != queue_.end()) {
          dropped.push_back(std::move(*queued));
          queue_.erase(queued);
        }
      }
      cancels_.clear();
      while (!queue_.empty() &&
             ActiveLocked() + static_cast<int>(admit.size()) < options_.parallel) {
        admit.push_back(std::move(queue_.front()));
        queue_.pop_front();
      }
    }
    for (Queued& q : dropped) q.job.on_done(absl::CancelledError("the request was cancelled"));
    for (const Running& r : cancelled) r.engine->batch->Cancel(r.slot);
    for (Queued& q : admit) Admit(std::move(q));
    for (auto& engine : engines_) {
      if (engine->batch->active() == 0) continue;
      const auto start = Clock::now();
      const int sequences = engine->batch->active();
      const absl::Status step = engine->batch->Step();
      if (!step.ok() && options_.verbose) {
        std::fprintf(stderr, "favor serve: a step failed: %s\n",
                     std::string(step.message()).c_str());
      }
      if (metrics_ != nullptr) {
        metrics_->CountStep(sequences, engine->batch->last_step_decoded(),
                            engine->batch->last_step_prefilled(), Seconds(start, Clock::now()));
      }
    }
    UpdateLoad();
    std::lock_guard lock(mutex_);
    if (queue_.empty() && running_.empty()) idle_.notify_all();
  }
  // Shutting down: what still runs is cancelled (its clients get what was generated), what waits
  // is refused.
  for (auto& engine : engines_) {
    for (int slot = 0; slot < engine->batch->slots(); ++slot) engine->batch->Cancel(slot);
  }
  std::deque<Queued> rest;
  {
    std::lock_guard lock(mutex_);
    rest.swap(queue_);
  }
  for (Queued& q : rest) q.job.on_done(absl::UnavailableError("the server is shutting down"));
  std::lock_guard lock(mutex_);
  idle_.notify_all();
}

}  // namespace favor::server
