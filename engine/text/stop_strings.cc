#include "engine/text/stop_strings.h"

#include <algorithm>

namespace favor::text {

StopStrings::StopStrings(std::vector<std::string> stops) : stops_(std::move(stops)) {
  std::erase(stops_, std::string());
}

std::string StopStrings::Add(absl::string_view text) {
  if (matched_.has_value()) return "";
  pending_.append(text.data(), text.size());
  size_t earliest = std::string::npos;
  for (size_t i = 0; i < stops_.size(); ++i) {
    const size_t at = pending_.find(stops_[i]);
    if (at < earliest) {
      earliest = at;
      matched_ = i;
    }
  }
  if (matched_.has_value()) {
    std::string released = pending_.substr(0, earliest);
    pending_.clear();
    return released;
  }
  // Hold back the longest tail that is a proper prefix of some stop string.
  size_t hold = 0;
  for (const std::string& stop : stops_) {
    for (size_t n = std::min(stop.size() - 1, pending_.size()); n > hold; --n) {
      if (pending_.compare(pending_.size() - n, n, stop, 0, n) == 0) {
        hold = n;
        break;
      }
    }
  }
  std::string released = pending_.substr(0, pending_.size() - hold);
  pending_.erase(0, released.size());
  return released;
}

std::string StopStrings::Finish() {
  std::string rest = std::move(pending_);
  pending_.clear();
  return rest;
}

}  // namespace favor::text
