// The server's counters, gauges and latency histograms, written as Prometheus text
// (GET /metrics). Thread-safe: HTTP threads and the scheduler record into it.
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <vector>

namespace favor::server {

class Histogram {
 public:
  explicit Histogram(std::vector<double> bounds);
  void Observe(double value);
  // Appends `name`'s _bucket, _sum and _count lines.
  void Render(const std::string& name, const std::string& help, std::string& out) const;

 private:
  std::vector<double> bounds_;
  std::vector<int64_t> counts_;  // Per bucket (not cumulative); the last is +Inf.
  double sum_ = 0;
  int64_t count_ = 0;
};

class Metrics {
 public:
  Metrics();

  // A finished HTTP request on `endpoint` with its status code.
  void CountRequest(const std::string& endpoint, int status);
  // A completed generation: its tokens and timings.
  void CountGeneration(int64_t prompt_tokens, int64_t cached_tokens, int64_t generated_tokens,
                       double queue_seconds, double first_token_seconds, double total_seconds);
  // A forward pass of the batch: sequences in it and tokens decoded and prefilled.
  void CountStep(int sequences, int64_t decoded, int64_t prefilled, double seconds);
  // Gauges the scheduler keeps current.
  void SetLoad(int queued, int active, int64_t state_bytes);
  void SetSlots(int slots, int64_t state_bytes_per_slot);

  std::string Render() const;

 private:
  mutable std::mutex mutex_;
  std::map<std::pair<std::string, int>, int64_t> requests_;
  int64_t prompt_tokens_ = 0, cached_tokens_ = 0, generated_tokens_ = 0, generations_ = 0;
  int64_t steps_ = 0, step_sequences_ = 0, decoded_ = 0, prefilled_ = 0;
  double step_seconds_ = 0;
  int queued_ = 0, active_ = 0, slots_ = 0;
  int64_t state_bytes_ = 0, state_bytes_per_slot_ = 0;
  Histogram queue_seconds_, first_token_seconds_, request_seconds_, step_batch_;
};

}  // namespace favor::server
