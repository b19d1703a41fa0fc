// Random projections omega_1..omega_M (rows of an M x d matrix), each marginally N(0, I_d):
// iid Gaussian, or orthogonal random features (blocks of d orthogonal rows from a sign-corrected
// QR of a Gaussian matrix, each row rescaled to the norm of an independent N(0, I_d) vector, so
// that the exponential features stay unbiased). Deterministic from (seed, layer, head): the same
// model and options always get the same features, whatever the thread or platform order.
#pragma once

#include <cstdint>

#include "engine/rf/linalg.h"

namespace favor::rf {

enum class ProjectionKind { kIid, kOrthogonal };

// A 64-bit stream seed mixing the user seed with the (layer, head) the features serve.
uint64_t StreamSeed(uint64_t seed, int64_t layer, int64_t head);

Matrix GaussianProjection(int64_t features, int64_t dim, ProjectionKind kind, uint64_t stream_seed);

}  // namespace favor::rf
