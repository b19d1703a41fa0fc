#include "engine/rf/calibration.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "engine/core/status.h"
#include "engine/core/storage.h"
#include "engine/io/byte_reader.h"

namespace favor::rf {
namespace {

constexpr uint32_t kMagic = 0x43564146;  // "FAVC"
// Version 2 appends an optional hybrid plan after the statistics; version 3 plans choose a
// (window, M) pair per head with costs in state (the head dimension); version 4 plans carry their
// end-to-end KL on the calibration text. Versions 1 to 3 still load.
constexpr uint32_t kVersion = 4;

template <typename T>
void Put(std::ofstream& out, T value) {
  out.write(reinterpret_cast<const char*>(&value), sizeof(T));
}

absl::Status ReadDoubles(io::ByteReader& r, double* out, int64_t count) {
  FAVOR_ASSIGN_OR_RETURN(const auto bytes,
                         r.ReadBytes(static_cast<uint64_t>(count) * 8, "statistics"));
  std::memcpy(out, bytes.data(), bytes.size());
  for (int64_t i = 0; i < count; ++i) {
    if (!std::isfinite(out[i])) return r.Error("non-finite statistics");
  }
  return absl::OkStatus();
}

void PutPlan(std::ofstream& out, const std::optional<HybridPlan>& plan) {
  Put<uint32_t>(out, plan.has_value() ? 1 : 0);
  if (!plan) return;
  Put<int64_t>(out, plan->sinks);
  Put<int32_t>(out, static_cast<int32_t>(plan->kind));
  Put<int64_t>(out, plan->features);
  Put<int64_t>(out, plan->tokens);
  Put<int64_t>(out, plan->exact_cost);
  Put<double>(out, plan->budget);
  Put<int64_t>(out, plan->head_dim);
  Put<double>(out, plan->calibration_kl);
  Put<int64_t>(out, static_cast<int64_t>(plan->candidates.size()));
  for (const PlanCandidate& c : plan->candidates) {
    Put<int64_t>(out, c.window);
    Put<int64_t>(out, c.features);
  }
  Put<int64_t>(out, plan->layers());
  Put<int64_t>(out, plan->heads());
  for (int64_t l = 0; l < plan->layers(); ++l) {
    for (int64_t h = 0; h < plan->heads(); ++h) {
      const PlanCandidate& chosen = plan->choices[static_cast<size_t>(l)][static_cast<size_t>(h)];
      Put<int64_t>(out, chosen.window);
      Put<int64_t>(out, chosen.features);
      for (double e : plan->errors[static_cast<size_t>(l)][static_cast<size_t>(h)]) {
        Put<double>(out, e);
      }
    }
  }
}

// A candidate: its window and (version 3) its M; version 2 plans gave every windowed head the
// plan's tail.
absl::StatusOr<PlanCandidate> ReadCandidate(io::ByteReader& r, const HybridPlan& plan,
                                            uint32_t version, absl::string_view what) {
  PlanCandidate c;
  FAVOR_ASSIGN_OR_RETURN(c.window, r.Read<int64_t>(what));
  if (version >= 3) {
    FAVOR_ASSIGN_OR_RETURN(c.features, r.Read<int64_t>(what));
  } else {
    c.features = c.window == kExactHead ? 0 : plan.features;
  }
  if ((c.window != kExactHead && (c.window < 0 || c.window > (1 << 20))) || c.features < 0 ||
      c.features > 65536 || (c.window == 0 && c.features == 0)) {
    return r.Error(absl::StrCat("plan: invalid ", what, " window ", c.window, " with ", c.features,
                                " features"));
  }
  if (c.window == kExactHead) c.features = 0;
  return c;
}

absl::StatusOr<HybridPlan> ReadPlan(io::ByteReader& r, int64_t layers, int64_t heads,
                                    uint32_t version) {
  HybridPlan plan;
  FAVOR_ASSIGN_OR_RETURN(plan.sinks, r.Read<int64_t>("plan sinks"));
  FAVOR_ASSIGN_OR_RETURN(const int32_t kind, r.Read<int32_t>("plan feature kind"));
  if (kind < 0 || kind > static_cast<int32_t>(RfKind::kGeometric) ||
      !IsPositive(static_cast<RfKind>(kind))) {
    return r.Error(absl::StrCat("plan: invalid feature kind ", kind));
  }
  plan.kind = static_cast<RfKind>(kind);
  FAVOR_ASSIGN_OR_RETURN(plan.features, r.Read<int64_t>("plan features"));
  FAVOR_ASSIGN_OR_RETURN(plan.tokens, r.Read<int64_t>("plan tokens"));
  FAVOR_ASSIGN_OR_RETURN(plan.exact_cost, r.Read<int64_t>("plan exact cost"));
  FAVOR_ASSIGN_OR_RETURN(plan.budget, r.Read<double>("plan budget"));
  if (version >= 3) {
    FAVOR_ASSIGN_OR_RETURN(plan.head_dim, r.Read<int64_t>("plan head dim"));
  }
  if (version >= 4) {
    FAVOR_ASSIGN_OR_RETURN(plan.calibration_kl, r.Read<double>("plan calibration KL"));
    // Negative: not measured; NaN fails this test too.
    if (!(plan.calibration_kl < 0 || std::isfinite(plan.calibration_kl))) {
      return r.Error("plan: invalid calibration KL");
    }
  }
  FAVOR_ASSIGN_OR_RETURN(const int64_t candidates, r.Read<int64_t>("plan candidate count"));
  if (plan.sinks < 0 || plan.sinks > (1 << 20) || plan.features <= 0 || plan.features > 65536 ||
      plan.exact_cost < 0 || !std::isfinite(plan.budget) || candidates <= 0 || candidates > 64 ||
      plan.head_dim < 0 || plan.head_dim > 4096) {
    return r.Error("plan: invalid sinks, features, cost, budget, head dim or candidate count");
  }
  for (int64_t c = 0; c < candidates; ++c) {
    FAVOR_ASSIGN_OR_RETURN(auto candidate, ReadCandidate(r, plan, version, "plan candidate"));
    plan.candidates.push_back(candidate);
  }
  FAVOR_ASSIGN_OR_RETURN(const int64_t plan_layers, r.Read<int64_t>("plan layer count"));
  FAVOR_ASSIGN_OR_RETURN(const int64_t plan_heads, r.Read<int64_t>("plan head count"));
  if (plan_layers != layers || plan_heads != heads) {
    return r.Error(absl::StrCat("plan: ", plan_layers, " layers x ", plan_heads,
                                " heads, the statistics ", layers, " x ", heads));
  }
  const uint64_t per_choice = version >= 3 ? 2 : 1;
  const uint64_t need = static_cast<uint64_t>(layers * heads) * 8 * (per_choice + candidates);
  if (need != r.remaining()) {
    return r.Error(
        absl::StrCat("plan: size mismatch: ", need, " bytes needed, ", r.remaining(), " remain"));
  }
  plan.choices.assign(static_cast<size_t>(layers),
                      std::vector<PlanCandidate>(static_cast<size_t>(heads)));
  plan.errors.assign(static_cast<size_t>(layers),
                     std::vector<std::vector<double>>(static_cast<size_t>(heads),
                                                      std::vector<double>(candidates)));
  for (int64_t l = 0; l < layers; ++l) {
    for (int64_t h = 0; h < heads; ++h) {
      FAVOR_ASSIGN_OR_RETURN(const PlanCandidate chosen,
                             ReadCandidate(r, plan, version, "plan choice"));
      if (std::find(plan.candidates.begin(), plan.candidates.end(), chosen) ==
          plan.candidates.end()) {
        return r.Error(absl::StrCat("plan: layer ", l, " head ", h, " choice ",
                                    CandidateName(chosen), " is not a candidate"));
      }
      plan.choices[static_cast<size_t>(l)][static_cast<size_t>(h)] = chosen;
      FAVOR_RETURN_IF_ERROR(ReadDoubles(
          r, plan.errors[static_cast<size_t>(l)][static_cast<size_t>(h)].data(), candidates));
    }
  }
  return plan;
}

}  // namespace

absl::Status SaveCalibration(const Calibration& c, const std::string& path) {
  std::ofstream out(path, std::ios::binary);
  if (!out) return absl::PermissionDeniedError(absl::StrCat("cannot write '", path, "'"));
  Put<uint32_t>(out, kMagic);
  Put<uint32_t>(out, kVersion);
  Put<int64_t>(out, c.head_dim);
  Put<int64_t>(out, static_cast<int64_t>(c.layers.size()));
  Put<int64_t>(out, c.layers.empty() ? 0 : static_cast<int64_t>(c.layers[0].size()));
  Put<int64_t>(out, c.tokens);
  for (const auto& layer : c.layers) {
    for (const PairStatistics& s : layer) {
      Put<int64_t>(out, s.query_count());
      Put<int64_t>(out, s.key_count());
      for (double v : s.query_sum()) Put<double>(out, v);
      for (double v : s.key_sum()) Put<double>(out, v);
      for (int64_t i = 0; i < c.head_dim; ++i) {
        for (int64_t j = 0; j < c.head_dim; ++j) Put<double>(out, s.query_outer_sum()(i, j));
      }
      for (int64_t i = 0; i < c.head_dim; ++i) {
        for (int64_t j = 0; j < c.head_dim; ++j) Put<double>(out, s.key_outer_sum()(i, j));
      }
    }
  }
  PutPlan(out, c.plan);
  if (!out) return absl::InternalError(absl::StrCat("error writing '", path, "'"));
  return absl::OkStatus();
}

absl::StatusOr<Calibration> LoadCalibration(const std::string& path) {
  FAVOR_ASSIGN_OR_RETURN(auto file, MappedFile::Open(path));
  io::ByteReader r({file->data(), file->size()}, path);
  FAVOR_ASSIGN_OR_RETURN(const uint32_t magic, r.Read<uint32_t>("magic"));
  if (magic != kMagic) return r.Error("not a favor calibration file (bad magic)");
  FAVOR_ASSIGN_OR_RETURN(const uint32_t version, r.Read<uint32_t>("version"));
  if (version < 1 || version > kVersion)
    return r.Error(absl::StrCat("unsupported calibration version ", version));
  Calibration c;
  FAVOR_ASSIGN_OR_RETURN(c.head_dim, r.Read<int64_t>("head dim"));
  FAVOR_ASSIGN_OR_RETURN(const int64_t layers, r.Read<int64_t>("layer count"));
  FAVOR_ASSIGN_OR_RETURN(const int64_t heads, r.Read<int64_t>("head count"));
  FAVOR_ASSIGN_OR_RETURN(c.tokens, r.Read<int64_t>("token count"));
  const int64_t d = c.head_dim;
  if (d <= 0 || d > 1024 || layers < 0 || heads < 0 || layers > 4096 || heads > 4096) {
    return r.Error(
        absl::StrCat("invalid sizes: head dim ", d, ", ", layers, " layers, ", heads, " heads"));
  }
  const uint64_t per_head = 16 + 8 * static_cast<uint64_t>(2 * d + 2 * d * d);
  const uint64_t statistics_bytes = static_cast<uint64_t>(layers * heads) * per_head;
  const uint64_t plan_flag_bytes = version >= 2 ? 4 : 0;
  if (version == 1 ? statistics_bytes != r.remaining()
                   : statistics_bytes + plan_flag_bytes > r.remaining()) {
    return r.Error(absl::StrCat("size mismatch: ", layers, " layers x ", heads, " heads need ",
                                statistics_bytes + plan_flag_bytes, " bytes, ", r.remaining(),
                                " remain"));
  }
  for (int64_t l = 0; l < layers; ++l) {
    std::vector<PairStatistics> layer;
    for (int64_t h = 0; h < heads; ++h) {
      FAVOR_ASSIGN_OR_RETURN(const int64_t count_x, r.Read<int64_t>("query count"));
      FAVOR_ASSIGN_OR_RETURN(const int64_t count_y, r.Read<int64_t>("key count"));
      std::vector<double> sum_x(static_cast<size_t>(d)), sum_y(static_cast<size_t>(d));
      FAVOR_RETURN_IF_ERROR(ReadDoubles(r, sum_x.data(), d));
      FAVOR_RETURN_IF_ERROR(ReadDoubles(r, sum_y.data(), d));
      Matrix sum_xx(d, d), sum_yy(d, d);
      FAVOR_RETURN_IF_ERROR(ReadDoubles(r, sum_xx.row(0), d * d));
      FAVOR_RETURN_IF_ERROR(ReadDoubles(r, sum_yy.row(0), d * d));
      layer.push_back(PairStatistics::FromSums(d, count_x, count_y, std::move(sum_x),
                                               std::move(sum_y), std::move(sum_xx),
                                               std::move(sum_yy)));
    }
    c.layers.push_back(std::move(layer));
  }
  if (version >= 2) {
    FAVOR_ASSIGN_OR_RETURN(const uint32_t has_plan, r.Read<uint32_t>("plan flag"));
    if (has_plan > 1) return r.Error(absl::StrCat("invalid plan flag ", has_plan));
    if (has_plan == 1) {
      FAVOR_ASSIGN_OR_RETURN(c.plan, ReadPlan(r, layers, heads, version));
    } else if (r.remaining() != 0) {
      return r.Error(absl::StrCat(r.remaining(), " trailing bytes after the statistics"));
    }
  }
  return c;
}

}  // namespace favor::rf
