#include "engine/rf/calibration.h"

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
constexpr uint32_t kVersion = 1;

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
  if (!out) return absl::InternalError(absl::StrCat("error writing '", path, "'"));
  return absl::OkStatus();
}

absl::StatusOr<Calibration> LoadCalibration(const std::string& path) {
  FAVOR_ASSIGN_OR_RETURN(auto file, MappedFile::Open(path));
  io::ByteReader r({file->data(), file->size()}, path);
  FAVOR_ASSIGN_OR_RETURN(const uint32_t magic, r.Read<uint32_t>("magic"));
  if (magic != kMagic) return r.Error("not a favor calibration file (bad magic)");
  FAVOR_ASSIGN_OR_RETURN(const uint32_t version, r.Read<uint32_t>("version"));
  if (version != kVersion)
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
  if (static_cast<uint64_t>(layers * heads) * per_head != r.remaining()) {
    return r.Error(absl::StrCat("size mismatch: ", layers, " layers x ", heads, " heads need ",
                                static_cast<uint64_t>(layers * heads) * per_head, " bytes, ",
                                r.remaining(), " remain"));
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
  return c;
}

}  // namespace favor::rf
