// The server's scheduler: one thread that owns the batches and steps them, and a bounded queue
// that HTTP threads hand requests to. Requests are admitted while fewer than `parallel` generate;
// each runs in the batch of its attention (the server's, or the one it asked for: batches of other
// attentions are created on demand, a few at most, idle ones evicted first). Every loop steps each
// batch with work once, so requests of different attentions share the time.
//
// Callbacks of a job run on the scheduler thread; they must be quick (hand text to the HTTP
// thread, not write to a socket).
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/runtime/batch.h"
#include "engine/runtime/model.h"
#include "favor/attention.hpp"
#include "server/metrics.h"

namespace favor::server {

struct SchedulerOptions {
  int parallel = 4;         // Requests generating at once.
  int64_t context = 0;      // Tokens per slot; 0: the model's trained context.
  int threads = 0;          // 0: physical cores.
  int64_t max_batch = 512;  // Prompt tokens per forward pass.
  int max_queue = 64;       // Requests waiting for a slot; more are refused (503).
  int max_attentions = 4;   // Batches of distinct attentions kept at once.
  int64_t memory_limit_bytes = 0;
  bool verbose = false;
};

struct JobResult {
  runtime::GenerationResult generation;
  int64_t cached_tokens = 0;  // Prompt tokens the slot held already.
  std::string attention;      // As resolved.
  int64_t state_bytes = 0;    // The slot's sequence state.
  double queue_seconds = 0;
};

struct Job {
  std::vector<int32_t> prompt;
  runtime::GenerationOptions generation;
  std::optional<AttentionSpec> attention;  // Unset: the server's.
  runtime::TokenCallback on_token;
  std::function<void(absl::StatusOr<JobResult>)> on_done;  // Exactly once.
};

class Scheduler {
 public:
  // Builds the server's batch (checking that its slots fit in memory) and starts the thread.
  // `model` must outlive the scheduler; `metrics` may be null.
  static absl::StatusOr<std::unique_ptr<Scheduler>> Create(const runtime::Model& model,
                                                           const std::string& model_path,
                                                           const AttentionSpec& attention,
                                                           const SchedulerOptions& options,
                                                           Metrics* metrics);
  // Stops: cancels what is running and queued.
  ~Scheduler();
  Scheduler(const Scheduler&) = delete;
  Scheduler& operator=(const Scheduler&) = delete;

  // Queues a job; returns its id. ResourceExhausted when the queue is full, Unavailable once
  // draining. The job's on_done is called only when Submit succeeded.
  absl::StatusOr<uint64_t> Submit(Job job);
  // Ends a queued or running job (its client went away); its on_done gets what it had.
  void Cancel(uint64_t id);
  // Stops taking jobs and returns once the queued and running ones ended, or after `grace`
  // (the rest are cancelled).
  void Drain(std::chrono::milliseconds grace);

  // The server's attention, as resolved, and the state one of its slots holds.
  const std::string& attention() const { return default_attention_; }
  int64_t StateBytesPerSlot() const { return state_bytes_per_slot_; }
  int64_t context() const { return context_; }

 private:
  struct Engine {
    std::string key;
    runtime::ModelVariant variant;
    std::unique_ptr<runtime::Batch> batch;
    uint64_t last_used = 0;
  };
  struct Queued {
    uint64_t id;
    Job job;
    std::chrono::steady_clock::time_point arrived;
  };
  struct Running {
    Engine* engine;
    int slot;
  };

  Scheduler(const runtime::Model& model, const SchedulerOptions& options, Metrics* metrics)
      : model_(model), options_(options), metrics_(metrics) {}
  absl::StatusOr<Engine*> EngineFor(const std::optional<AttentionSpec>& attention);
  absl::StatusOr<std::unique_ptr<Engine>> MakeEngine(const AttentionSpec& attention);
  void Loop();
  void Admit(Queued queued);
  int ActiveLocked() const;
  void UpdateLoad();

  const runtime::Model& model_;
  std::string model_path_;
  SchedulerOptions options_;
  Metrics* metrics_;
  AttentionSpec default_spec_;
  std::string default_attention_;
  int64_t state_bytes_per_slot_ = 0;
  int64_t context_ = 0;

  // Owned by the scheduler thread.
  std::vector<std::unique_ptr<Engine>> engines_;
  uint64_t clock_ = 0;

  std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<Queued> queue_;             // Guarded by mutex_.
  std::set<uint64_t> cancels_;           // Guarded by mutex_.
  std::map<uint64_t, Running> running_;  // Guarded by mutex_.
  uint64_t next_id_ = 1;                 // Guarded by mutex_.
  bool draining_ = false;                // Guarded by mutex_.
  bool stopping_ = false;                // Guarded by mutex_.
  std::condition_variable idle_;
  std::thread thread_;
};

}  // namespace favor::server
