#include "coordinator/core/served_model.h"

#include <algorithm>

namespace moe {

std::vector<int32_t> ServedModel::eos_token_ids() const {
  std::vector<int32_t> ids;
  for (int64_t id : generation.eos_token_ids) ids.push_back(static_cast<int32_t>(id));
  if (ids.empty()) {
    for (int64_t id : config.eos_token_ids) ids.push_back(static_cast<int32_t>(id));
  }
  std::sort(ids.begin(), ids.end());
  ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
  return ids;
}

}  // namespace moe
