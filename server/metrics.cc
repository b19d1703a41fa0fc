#include "server/metrics.h"

#include "absl/strings/str_cat.h"

namespace favor::server {
namespace {

const std::vector<double> kLatencyBounds = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
                                            1,     2.5,  5,     10,   30,  60,   120};
const std::vector<double> kBatchBounds = {1, 2, 4, 8, 16, 32, 64};

void Line(std::string& out, const std::string& name, const std::string& help,
          const std::string& type, double value) {
  absl::StrAppend(&out, "# HELP ", name, " ", help, "\n# TYPE ", name, " ", type, "\n", name, " ",
                  value, "\n");
}

}  // namespace

Histogram::Histogram(std::vector<double> bounds)
    : bounds_(std::move(bounds)), counts_(bounds_.size() + 1, 0) {}

void Histogram::Observe(double value) {
  size_t bucket = 0;
  while (bucket < bounds_.size() && value > bounds_[bucket]) ++bucket;
  ++counts_[bucket];
  sum_ += value;
  ++count_;
}

void Histogram::Render(const std::string& name, const std::string& help, std::string& out) const {
  absl::StrAppend(&out, "# HELP ", name, " ", help, "\n# TYPE ", name, " histogram\n");
  int64_t cumulative = 0;
  for (size_t i = 0; i < bounds_.size(); ++i) {
    cumulative += counts_[i];
    absl::StrAppend(&out, name, "_bucket{le=\"", bounds_[i], "\"} ", cumulative, "\n");
  }
  absl::StrAppend(&out, name, "_bucket{le=\"+Inf\"} ", count_, "\n", name, "_sum ", sum_, "\n",
                  name, "_count ", count_, "\n");
}

Metrics::Metrics()
    : queue_seconds_(kLatencyBounds),
      first_token_seconds_(kLatencyBounds),
      request_seconds_(kLatencyBounds),
      step_batch_(kBatchBounds) {}

void Metrics::CountRequest(const std::string& endpoint, int status) {
  std::lock_guard lock(mutex_);
  ++requests_[{endpoint, status}];
}

void Metrics::CountGeneration(int64_t prompt_tokens, int64_t cached_tokens,
                              int64_t generated_tokens, double queue_seconds,
                              double first_token_seconds, double total_seconds) {
  std::lock_guard lock(mutex_);
  ++generations_;
  prompt_tokens_ += prompt_tokens;
  cached_tokens_ += cached_tokens;
  generated_tokens_ += generated_tokens;
  queue_seconds_.Observe(queue_seconds);
  first_token_seconds_.Observe(first_token_seconds);
  request_seconds_.Observe(total_seconds);
}

void Metrics::CountStep(int sequences, int64_t decoded, int64_t prefilled, double seconds) {
  std::lock_guard lock(mutex_);
  ++steps_;
  step_sequences_ += sequences;
  decoded_ += decoded;
  prefilled_ += prefilled;
  step_seconds_ += seconds;
  step_batch_.Observe(sequences);
}

void Metrics::SetLoad(int queued, int active, int64_t state_bytes) {
  std::lock_guard lock(mutex_);
  queued_ = queued;
  active_ = active;
  state_bytes_ = state_bytes;
}

void Metrics::SetSlots(int slots, int64_t state_bytes_per_slot) {
  std::lock_guard lock(mutex_);
  slots_ = slots;
  state_bytes_per_slot_ = state_bytes_per_slot;
}

std::string Metrics::Render() const {
  std::lock_guard lock(mutex_);
  std::string out;
  absl::StrAppend(&out,
                  "# HELP favor_requests_total HTTP requests by endpoint and status code.\n"
                  "# TYPE favor_requests_total counter\n");
  for (const auto& [key, count] : requests_) {
    absl::StrAppend(&out, "favor_requests_total{endpoint=\"", key.first, "\",code=\"", key.second,
                    "\"} ", count, "\n");
  }
  Line(out, "favor_generations_total", "Generations completed.", "counter",
       static_cast<double>(generations_));
  Line(out, "favor_prompt_tokens_total", "Prompt tokens of completed generations.", "counter",
       static_cast<double>(prompt_tokens_));
  Line(out, "favor_prompt_tokens_cached_total",
       "Prompt tokens a slot held already (not prefilled again).", "counter",
       static_cast<double>(cached_tokens_));
  Line(out, "favor_generated_tokens_total", "Tokens generated.", "counter",
       static_cast<double>(generated_tokens_));
  Line(out, "favor_batch_steps_total", "Forward passes of the batch.", "counter",
       static_cast<double>(steps_));
  Line(out, "favor_batch_decoded_tokens_total", "Tokens decoded in batch steps.", "counter",
       static_cast<double>(decoded_));
  Line(out, "favor_batch_prefilled_tokens_total", "Prompt tokens prefilled in batch steps.",
       "counter", static_cast<double>(prefilled_));
  Line(out, "favor_batch_step_seconds_total", "Time in forward passes.", "counter", step_seconds_);
  step_batch_.Render("favor_batch_sequences", "Sequences per forward pass.", out);
  Line(out, "favor_requests_queued", "Requests waiting for a slot.", "gauge", queued_);
  Line(out, "favor_requests_active", "Requests generating.", "gauge", active_);
  Line(out, "favor_slots", "Sequences generated together (--parallel).", "gauge", slots_);
  Line(out, "favor_state_bytes_per_slot",
       "Sequence state of one slot (KV cache, random-feature state) at the server's attention.",
       "gauge", static_cast<double>(state_bytes_per_slot_));
  Line(out, "favor_state_bytes", "Sequence state allocated for all slots of every attention.",
       "gauge", static_cast<double>(state_bytes_));
  queue_seconds_.Render("favor_queue_seconds", "Time from arrival to a slot.", out);
  first_token_seconds_.Render("favor_time_to_first_token_seconds",
                              "Time from arrival to the first generated token.", out);
  request_seconds_.Render("favor_request_seconds", "Time from arrival to the last token.", out);
  return out;
}

}  // namespace favor::server
