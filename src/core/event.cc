#include "core/event.h"

#include <array>
#include <cctype>
#include <cmath>

namespace freshet {
namespace {

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(a[i])) !=
        std::tolower(static_cast<unsigned char>(b[i]))) {
      return false;
    }
  }
  return true;
}

std::optional<FieldError> CheckId(std::string_view field, std::string_view id, bool required) {
  if (id.empty()) {
    if (!required) return std::nullopt;
    return FieldError{std::string(field), "is missing or empty"};
  }
  if (id.size() > kMaxIdBytes) {
    return FieldError{std::string(field), "is " + std::to_string(id.size()) +
                                              " bytes long; the limit is " +
                                              std::to_string(kMaxIdBytes)};
  }
  for (unsigned char c : id) {
    if (c < 0x20 || c == 0x7f) {
      return FieldError{std::string(field), "contains a control character"};
    }
  }
  return std::nullopt;
}

// 1970-01-01 .. 2200-01-01: anything outside is a unit or parsing mistake, not a real event.
constexpr int64_t kMaxTsMs = 7258118400000LL;

}  // namespace

std::string_view EventTypeName(EventType type) {
  static constexpr std::array<std::string_view, kNumEventTypes> kNames = {
      "impression", "view", "click", "cart", "remove_cart", "fav", "buy", "rate", "search"};
  auto i = static_cast<size_t>(type);
  return i < kNames.size() ? kNames[i] : std::string_view("unknown");
}

std::optional<EventType> ParseEventType(std::string_view text) {
  struct Alias {
    std::string_view name;
    EventType type;
  };
  static constexpr Alias kAliases[] = {
      {"impression", EventType::kImpression}, {"impr", EventType::kImpression},
      {"show", EventType::kImpression},       {"view", EventType::kView},
      {"pv", EventType::kView},               {"detail", EventType::kView},
      {"click", EventType::kClick},           {"cart", EventType::kCart},
      {"addtocart", EventType::kCart},        {"add_to_cart", EventType::kCart},
      {"remove_cart", EventType::kRemoveCart}, {"removefromcart", EventType::kRemoveCart},
      {"remove_from_cart", EventType::kRemoveCart}, {"fav", EventType::kFav},
      {"favorite", EventType::kFav},          {"favourite", EventType::kFav},
      {"like", EventType::kFav},              {"buy", EventType::kBuy},
      {"purchase", EventType::kBuy},          {"transaction", EventType::kBuy},
      {"order", EventType::kBuy},             {"rate", EventType::kRate},
      {"rating", EventType::kRate},           {"search", EventType::kSearch},
  };
  for (const Alias& a : kAliases) {
    if (EqualsIgnoreCase(a.name, text)) return a.type;
  }
  return std::nullopt;
}

bool IsInteraction(EventType type) {
  switch (type) {
    case EventType::kView:
    case EventType::kClick:
    case EventType::kCart:
    case EventType::kFav:
    case EventType::kBuy:
    case EventType::kRate:
      return true;
    case EventType::kImpression:
    case EventType::kRemoveCart:
    case EventType::kSearch:
      return false;
  }
  return false;
}

std::optional<FieldError> ValidateEvent(const Event& event) {
  if (auto e = CheckId("user", event.user, /*required=*/true)) return e;
  if (auto e = CheckId("item", event.item, event.type != EventType::kSearch)) return e;
  if (auto e = CheckId("event_id", event.event_id, /*required=*/false)) return e;
  if (auto e = CheckId("session", event.session, /*required=*/false)) return e;
  if (static_cast<int>(event.type) >= kNumEventTypes) {
    return FieldError{"type", "is not a known event type"};
  }
  if (event.ts_ms < 0 || event.ts_ms >= kMaxTsMs) {
    return FieldError{"ts", "is " + std::to_string(event.ts_ms) +
                                " ms since epoch, outside 1970..2200 (wrong unit?)"};
  }
  if (!std::isfinite(event.value)) return FieldError{"value", "is not a finite number"};
  if (event.type == EventType::kRate && (event.value < 0.0 || event.value > 10.0)) {
    return FieldError{"value", "a rating must lie in [0, 10]"};
  }
  return std::nullopt;
}

std::optional<FieldError> ValidateItem(const Item& item) {
  if (auto e = CheckId("id", item.id, /*required=*/true)) return e;
  if (!std::isfinite(item.price)) return FieldError{"price", "is not a finite number"};
  return std::nullopt;
}

}  // namespace freshet
