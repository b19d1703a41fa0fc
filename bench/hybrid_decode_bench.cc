// The decode step of hybrid attention as a model runs it: every layer's attention once per token,
// with the caches flushed between tokens (in a model the weights of the other operators stream
// through them, so each layer's attention state arrives cold). The stories110M shape: 12 layers of
// 12 heads of 64, sinks 4, window W = 64. Each iteration times window-only attention and hybrid
// attention with M tail features one after the other, so both see the same load on the VM; the
// figure to read is extra_us, what the tail adds per token (a model's tokens/s ratio is then
// ms_per_token / (ms_per_token + extra)). Also: the tail_decode kernel alone, hot, per ISA.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "bench/bench_util.h"
#include "engine/core/status.h"
#include "engine/core/threading.h"
#include "engine/kernels/kernels.h"
#include "engine/ops/hybrid_attention.h"

namespace favor::bench {
namespace {

constexpr int64_t kLayers = 12, kHeads = 12, kHeadDim = 64, kWindow = 64, kSinks = 4;
constexpr int64_t kDepth = 512;  // Past sinks + window: the tail is live and takes a key per step.

std::shared_ptr<HybridAttentionOp> MakeHybridOp(int64_t layer, int64_t features) {
  HybridAttentionOptions o;
  o.heads = {.n_heads = kHeads, .n_kv_heads = kHeads, .head_dim = kHeadDim};
  o.layer = layer;
  o.window = kWindow;
  o.sinks = kSinks;
  o.random_feature_tail = features > 0;
  o.features = {.kind = rf::RfKind::kSaderf, .features = std::max<int64_t>(features, 1)};
  if (features > 0) o.calibration = RandomCalibration(kHeads, kHeadDim);
  return HybridAttentionOp::Create(std::move(o)).value();
}

// Touches `bytes` of a buffer larger than the last-level cache, evicting what was cached.
class CacheFlusher {
 public:
  explicit CacheFlusher(int64_t bytes) : buffer_(static_cast<size_t>(bytes / 8), 1) {}
  void Flush() {
    for (size_t i = 0; i < buffer_.size(); i += 8) buffer_[i] += 1;
    benchmark::ClobberMemory();
  }

 private:
  std::vector<int64_t> buffer_;
};

// Every layer's attention of the stories110M shape, with M random features in the tail (0: none),
// its state prefilled to kDepth tokens.
class LayerStack {
 public:
  explicit LayerStack(int64_t features) {
    for (int64_t layer = 0; layer < kLayers; ++layer) {
      ops_.push_back(MakeHybridOp(layer, features));
      states_.push_back(ops_.back()->CreateState({.max_context = 1 << 24}).value());
    }
  }
  int64_t WorkspaceBytes(const TensorSpec& spec) const {
    int64_t most = 0;
    for (const auto& op : ops_) most = std::max(most, op->WorkspaceBytes({&spec, 1}));
    return most;
  }
  int64_t StateBytes() const {
    int64_t bytes = 0;
    for (const auto& state : states_) bytes += state->NumBytes();
    return bytes;
  }
  // Runs `inputs` (rows at `position`) through every layer.
  absl::Status Run(OpRunner& runner, std::span<const Tensor> inputs, Tensor& out,
                   int64_t position) {
    for (size_t layer = 0; layer < ops_.size(); ++layer) {
      FAVOR_RETURN_IF_ERROR(ops_[layer]->Run(runner.context(inputs[0].dim(0), position), inputs,
                                             {&out, 1}, states_[layer].get()));
    }
    return absl::OkStatus();
  }

 private:
  std::vector<std::shared_ptr<HybridAttentionOp>> ops_;
  std::vector<std::unique_ptr<OpState>> states_;
};

double Median(std::vector<double> values) {
  std::nth_element(values.begin(), values.begin() + values.size() / 2, values.end());
  return values[values.size() / 2];
}

// Args: M, threads. Each iteration times one cold decode step of window-only attention and one of
// hybrid attention with M features, one after the other, so that both see the same load on the
// machine: the counters are their medians and the ratio of window-only's tokens/s to hybrid's.
// The iteration's time is the hybrid step's.
void BM_HybridDecodeCold(benchmark::State& state) {
  const int64_t features = state.range(0);
  const int threads = static_cast<int>(state.range(1));
  const int64_t width = kHeads * kHeadDim;
  LayerStack window_only(0), hybrid(features);
  const TensorSpec spec{DType::kF32, Shape{kDepth, width}};
  OpRunner runner(threads, std::max(window_only.WorkspaceBytes(spec), hybrid.WorkspaceBytes(spec)));
  ScopedThreadCount scoped(threads);
  const Tensor history = RandomTensor(Shape{kDepth, width}, 3, 0.5f);
  Tensor history_out = Tensor::Allocate(DType::kF32, Shape{kDepth, width}).value();
  const Tensor prefix[3] = {history, history, history};
  for (LayerStack* stack : {&window_only, &hybrid}) {
    if (const absl::Status status = stack->Run(runner, prefix, history_out, 0); !status.ok()) {
      state.SkipWithError(std::string(status.message()).c_str());
      return;
    }
  }
  const Tensor q = RandomTensor(Shape{1, width}, 1, 0.5f), kv = RandomTensor(Shape{1, width}, 2);
  const Tensor inputs[3] = {q, kv, kv};
  Tensor out = Tensor::Allocate(DType::kF32, Shape{1, width}).value();
  CacheFlusher flusher(int64_t{64} << 20);  // Beyond this machine's last-level cache.
  std::vector<double> window_us, hybrid_us;
  int64_t position = kDepth;
  for (auto _ : state) {
    double seconds[2];
    for (int i = 0; i < 2; ++i) {
      flusher.Flush();
      const auto start = std::chrono::steady_clock::now();
      const absl::Status status =
          (i == 0 ? window_only : hybrid).Run(runner, inputs, out, position);
      seconds[i] = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      if (!status.ok()) state.SkipWithError(std::string(status.message()).c_str());
    }
    window_us.push_back(seconds[0] * 1e6);
    hybrid_us.push_back(seconds[1] * 1e6);
    state.SetIterationTime(seconds[1]);
    ++position;
  }
  if (window_us.empty()) return;
  const double window_median = Median(window_us), hybrid_median = Median(hybrid_us);
  state.counters["window_us"] = window_median;
  state.counters["hybrid_us"] = hybrid_median;
  state.counters["extra_us"] = hybrid_median - window_median;
  state.counters["ratio"] = window_median / hybrid_median;
  state.counters["state_MiB"] = static_cast<double>(hybrid.StateBytes()) / (1 << 20);
}

// Args: ISA (0 scalar, 1 avx2, 2 avx512), M, d, query rows. The tail_decode kernel alone on one
// head's state, hot in the caches: its compute cost, which the cold step adds to the reads.
void BM_TailDecodeKernel(benchmark::State& state) {
  const auto isa = static_cast<kernels::Isa>(state.range(0));
  if (!kernels::IsSupported(isa)) {
    state.SkipWithError("ISA not supported on this CPU");
    return;
  }
  const kernels::KernelTable& kernel = kernels::GetKernels(isa);
  const int64_t m = state.range(1), d = state.range(2), heads = state.range(3);
  auto vector = [](int64_t n, uint64_t seed, float scale) {
    const Tensor t = RandomTensor(Shape{n}, seed, scale);
    return std::vector<float>(t.data<float>(), t.data<float>() + n);
  };
  const std::vector<float> bias = vector(m, 1, 1.0f), projection_t = vector(d * m, 2, 0.3f),
                           queries = vector(heads * d, 3, 1.0f), key = vector(d, 4, 1.0f),
                           value = vector(d, 5, 1.0f);
  std::vector<float> s = vector(m * d, 6, 1.0f), z(static_cast<size_t>(m), 1.0f),
                     scale(static_cast<size_t>(m), 0.0f),
                     numerators(static_cast<size_t>(heads * d)),
                     denominators(static_cast<size_t>(heads)),
                     row_scales(static_cast<size_t>(heads)),
                     scratch(static_cast<size_t>((heads + 4) * m));
  const kernels::TailDecodeStep step{.features = m,
                                     .dim = d,
                                     .heads = heads,
                                     .bias = bias.data(),
                                     .projection_t = projection_t.data(),
                                     .queries = queries.data(),
                                     .key = key.data(),
                                     .key_quadratic = -1.0f,
                                     .value = value.data(),
                                     .s = s.data(),
                                     .z = z.data(),
                                     .scale = scale.data(),
                                     .numerators = numerators.data(),
                                     .denominators = denominators.data(),
                                     .row_scales = row_scales.data(),
                                     .scratch = scratch.data()};
  for (auto _ : state) {
    kernel.tail_decode(step);
    benchmark::DoNotOptimize(numerators.data());
  }
  state.SetLabel(std::string(kernels::IsaName(isa)));
}

void TailDecodeArgs(benchmark::internal::Benchmark* b) {
  b->ArgNames({"isa", "M", "d", "heads"});
  for (int64_t isa : {0, 1, 2}) b->Args({isa, 256, 64, 1});
  for (int64_t heads : {4, 8}) b->Args({2, 256, 64, heads});
  b->Args({2, 256, 128, 1});
}

void HybridDecodeArgs(benchmark::internal::Benchmark* b) {
  b->ArgNames({"M", "threads"});
  for (int64_t m : {16, 64, 256}) b->Args({m, 2});
  b->Args({256, 1});
}

BENCHMARK(BM_TailDecodeKernel)->Apply(TailDecodeArgs)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_HybridDecodeCold)
    ->Apply(HybridDecodeArgs)
    ->UseManualTime()
    ->Unit(benchmark::kMicrosecond);

}  // namespace
}  // namespace favor::bench
