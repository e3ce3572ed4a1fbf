#pragma once

#include <cstdint>
#include <limits>

namespace freshet {

// Dense ids assigned by the store's dictionaries in first-seen order, starting at 0, so models
// index plain arrays. They are stable for the life of a data directory.
using UserId = uint32_t;
using ItemId = uint32_t;
inline constexpr uint32_t kNoId = std::numeric_limits<uint32_t>::max();

}  // namespace freshet
