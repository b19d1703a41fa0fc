// Shared by the fuzz targets: the input as aligned storage (what the loaders map), and the steps a
// user's `favor generate` takes after a model file parses, so a file that loads is also built and
// run (a corrupt file that slips through a loader must still not crash the engine downstream).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>

#include "engine/core/storage.h"
#include "engine/io/model_file.h"

namespace favor::fuzz {

// The fuzzer's bytes copied into a 64-byte aligned buffer: as a mapped file would be, so the
// loaders see the same alignment as in production. Null only if the allocation fails.
std::shared_ptr<const Storage> CopyInput(const uint8_t* data, size_t size);

// Validates the tensors, checks the weights are finite, builds the graph, and feeds two tokens
// through a one-thread session. Errors are expected and ignored; crashes and sanitizer reports are
// the findings. A file without a vocabulary gets a small synthetic one of its vocab size.
void BuildAndRun(io::ModelFile file);

}  // namespace favor::fuzz
