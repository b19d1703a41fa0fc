// The causal random-feature machinery that FavorAttention and HybridAttention share: one key/value
// head's state and the chunked steps that read and extend it.
//
// Numerics. With a_tm = log phi_m(q_t) and b_jm = log psi_m(k_j), a query's weight on a key is
// sum_m exp(a_tm + b_jm). On real models these logs reach hundreds of nats with spreads beyond
// float's range, so every exponent is taken against a scale that keeps the largest term near 1:
//   - the state keeps, per feature m, its own running key scale c_m = max_j b_jm over the keys it
//     holds: S_m = sum_j exp(b_jm - c_m) v_j, z_m = sum_j exp(b_jm - c_m). A key that is
//     negligible in feature m is negligible next to that feature's largest key, whatever the query.
//   - a query is scaled by r_t = max_m (a_tm + c_m): the largest feature's term is 1, and a term
//     below float's range is negligible next to it (every z_m of a held feature is >= 1).
// Keys arrive in sub-chunks whose per-feature running maximum grows by at most kMaxScaleJump over
// the sub-chunk (after its first key): the queries of a sub-chunk then use its final scales, which
// differ from their own causal ones by at most that much, so nothing that matters leaves float's
// range, and the chunk's products stay GEMMs. A key that jumps further starts a new sub-chunk.
// No future key scales a past output beyond rounding.
#pragma once

#include <cstdint>
#include <limits>
#include <memory>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

#include "engine/kernels/kernel_table.h"
#include "engine/ops/attention_op.h"
#include "engine/rf/head_features.h"
#include "engine/rf/statistics.h"

namespace favor::feature_tail {

// Log-space constants every random-feature attention op shares.
inline constexpr float kNegInf = -std::numeric_limits<float>::infinity();
// Smallest denominator accepted: positive features never sum to 0 (and in hybrid attention one
// part's largest term is e^0 on the common scale), but a sum can underflow.
inline constexpr float kDenominatorFloor = 1e-30f;

inline constexpr float kMaxScaleJump = 40.0f;  // nats; float's range is about 87 each way

// The features of every key/value head of a layer from calibrated statistics (one per head; none
// needed for PosRF, whose features do not depend on them). Errors name `op` and the layer.
absl::StatusOr<std::vector<std::shared_ptr<const rf::HeadFeatures>>> CalibratedFeatures(
    const rf::FeatureOptions& options, const std::vector<rf::PairStatistics>& calibration,
    int64_t layer, const AttentionHeads& heads, absl::string_view op);

// Adds positions [begin, end) of a run's queries (rows of n_heads x d) and keys (rows of
// n_kv_heads x d) for key/value head g and its query group to `statistics`, multiplied by the
// heads' FeatureScale() as the features see them: the statistics a head's features are drawn
// from.
void AddHeadStatistics(rf::PairStatistics& statistics, const float* q, const float* k,
                       int64_t begin, int64_t end, const AttentionHeads& heads, int64_t g);

// One key/value head's state, `features` x (head_dim + 2) floats: S (M x d), z (M), scales (M).
struct HeadState {
  float* s;
  float* z;
  float* scale;
};
inline int64_t StateFloats(int64_t features, int64_t dim) { return features * (dim + 2); }
HeadState StateAt(float* base, int64_t features, int64_t dim);
void ResetState(const HeadState& state, int64_t features, int64_t dim);
// Adds `shift` to every held feature's scale (the sums of `factor` copies: shift = log factor).
void ShiftScales(const HeadState& state, int64_t features, float shift);

// Scratch for sub-chunks of up to `rows` keys and queries.
struct Scratch {
  float* key_logs;     // rows x M
  float* keys;         // rows x M: exp(b_jm - c^_m)
  float* keys_t;       // M x rows
  float* queries;      // rows x M: exp(a_tm + c^_m - r_t)
  float* carried;      // rows x M: the same at the state's scales, exp(a_tm + c_m - r_t)
  float* products;     // rows x rows
  float* new_scale;    // M: c^
  float* rescale;      // M: exp(c_m - c^_m)
  float* base;         // M
  float* transformed;  // (rows + 1) x d: rows through the head's query or key transform.
};
int64_t ScratchFloats(int64_t rows, int64_t features, int64_t dim);
Scratch ScratchAt(float* base, int64_t rows, int64_t features);

struct Context {
  const kernels::KernelTable& kernel;
  const rf::HeadFeatures& head;  // This head's feature map.
  int64_t features;
  int64_t dim;
  HeadState state;
  Scratch scratch;
};

// Key log-features b (bias, projection and quadratic term) of `rows` rows of x (row stride).
void KeyLogFeatures(const Context& c, const float* x, int64_t rows, int64_t stride, float* logs);
// The query's quadratic term (the same for every feature; hybrid attention needs it).
float QueryQuadratic(const Context& c, const float* x);

// The sub-chunk of keys starting at `start` (of `count`, log-features in rows of `key_logs`):
// returns its end; sc.new_scale holds the scales after it.
int64_t PlanSubchunk(const Context& c, const float* key_logs, int64_t start, int64_t count);

// Prepares the sub-chunk's `count` keys (log-features `key_logs`) against sc.new_scale: their
// weights in sc.keys and sc.keys_t, and sc.rescale. count may be 0 (the state alone).
void PrepareKeys(const Context& c, const float* key_logs, int64_t count);

// Queries (`rows` rows of q, stride q_stride) against the state and the prepared keys, query t
// seeing the first clamp(t + visible_offset, 0, keys) of them (values: rows of `values`, stride
// v_stride). Writes numerators (rows x d), denominators, and each row's log-scale r_t (without the
// query's quadratic term; -inf when the row sees nothing): the row's weights are exp(r_t) times
// numerator and denominator.
void Queries(const Context& c, const float* q, int64_t rows, int64_t q_stride, const float* values,
             int64_t v_stride, int64_t keys, int64_t visible_offset, float* numerator,
             float* denominator, float* row_scale);
// The query rows' features (rows x M into sc.queries, at sc.new_scale) and log-scales r_t.
void QueryFeatures(const Context& c, const float* q, int64_t rows, int64_t q_stride,
                   float* row_scale);

// The prepared keys join the state (values as above); the scales become sc.new_scale.
void AddKeys(const Context& c, const float* values, int64_t v_stride, int64_t keys);

// Starts reading what head's next decode step reads first (its scales, sums and bias, and the
// first lines of its projection and S): issued while the previous head of the same thread runs,
// so that each head's streams do not start cold one after another.
void PrefetchDecode(const rf::HeadFeatures& head, const HeadState& state);

// One decode step (the kernel table's tail_decode: one pass over the projection and one over S):
// the key (a row of d; null: no key joins) and its value join the state, and `heads` query rows
// (d apart; the scratch holds at least that many rows) read the state with it, as Queries would:
// numerators (heads x d), denominators and row log-scales r_t.
void DecodeStep(const Context& c, const float* q, int64_t heads, const float* key,
                const float* value, float* numerator, float* denominator, float* row_scale);

}  // namespace favor::feature_tail
