#include "serve/service.h"

#include <simdjson.h>

#include <algorithm>
#include <numeric>
#include <cmath>
#include <cstdlib>
#include <exception>
#include <functional>
#include <limits>
#include <optional>
#include <unordered_map>
#include <unordered_set>

#include "core/json_writer.h"
#include "core/time.h"
#include "io/json_event.h"
#include "serve/catalog_view.h"
#include "serve/rerank.h"

namespace freshet::serve {

static_assert(CatalogView::kNoCategory == RerankOptions::kNoCategory);

namespace {

using simdjson::dom::element_type;

// ---- responses

// Starts a JSON answer: {"request_id":..., "model_version":..., then the caller's fields.
JsonWriter Begin(const ApiRequest& request, const ModelSet* models) {
  JsonWriter w;
  w.BeginObject();
  w.Key("request_id").String(request.request_id);
  w.Key("model_version").String(models != nullptr ? models->label : "none");
  return w;
}

ApiResponse Done(JsonWriter& w, int status = 200) {
  w.EndObject();
  ApiResponse r;
  r.status = status;
  r.body = w.Take();
  return r;
}

std::string_view ErrorCode(int status) {
  switch (status) {
    case 400: return "bad_request";
    case 401: return "unauthorized";
    case 403: return "forbidden";
    case 404: return "not_found";
    case 405: return "method_not_allowed";
    case 409: return "conflict";
    case 413: return "too_large";
    case 503: return "unavailable";
    default: return status >= 500 ? "internal" : "error";
  }
}

ApiResponse Error(const ApiRequest& request, const ModelSet* models, int status,
                  std::string_view message) {
  JsonWriter w = Begin(request, models);
  w.Key("error").BeginObject();
  w.Key("code").String(ErrorCode(status));
  w.Key("message").String(message);
  w.EndObject();
  return Done(w, status);
}

// ---- query parameters

std::optional<std::string_view> Param(const ApiRequest& r, std::string_view name) {
  for (const auto& [k, v] : r.query) {
    if (k == name) return std::string_view(v);
  }
  return std::nullopt;
}

// The first query parameter not in `known`, with the list for the message; nullopt when none.
std::optional<std::string> UnknownParam(const ApiRequest& r,
                                        std::initializer_list<std::string_view> known) {
  for (const auto& [k, v] : r.query) {
    if (std::find(known.begin(), known.end(), k) != known.end()) continue;
    std::string list;
    for (std::string_view n : known) list += (list.empty() ? "" : ", ") + std::string(n);
    return "unknown query parameter '" + k + "' (known: " + list + ")";
  }
  return std::nullopt;
}

// Parses k: a whole number in [1, max_k]; nullopt with *why set when it is not.
std::optional<size_t> ParseK(std::optional<std::string_view> text, size_t default_k, size_t max_k,
                             std::string* why) {
  if (!text) return default_k;
  size_t k = 0;
  bool ok = !text->empty() && text->size() <= 9;
  for (char c : *text) {
    if (c < '0' || c > '9') ok = false;
    if (ok) k = k * 10 + static_cast<size_t>(c - '0');
  }
  if (!ok || k < 1 || k > max_k) {
    *why = "k must be a whole number from 1 to " + std::to_string(max_k) + ", not '" +
           std::string(*text) + "'";
    return std::nullopt;
  }
  return k;
}

// Parses the query parameter `name`: a whole number in [lo, hi]; nullopt with *why set (naming
// the parameter and the range) when it is not.
std::optional<size_t> ParseWhole(std::string_view name, std::string_view text, size_t lo, size_t hi,
                                 std::string* why) {
  size_t v = 0;
  bool ok = !text.empty() && text.size() <= 9;
  for (char c : text) {
    if (c < '0' || c > '9') ok = false;
    if (ok) v = v * 10 + static_cast<size_t>(c - '0');
  }
  if (!ok || v < lo || v > hi) {
    *why = std::string(name) + " must be a whole number from " + std::to_string(lo) + " to " +
           std::to_string(hi) + ", not '" + std::string(text) + "'";
    return std::nullopt;
  }
  return v;
}

// Parses the query parameter `name`: a decimal number in [0, 1]; nullopt with *why when not.
std::optional<double> ParseUnit(std::string_view name, std::string_view text, std::string* why) {
  const std::string copy(text);
  char* end = nullptr;
  const double v = copy.empty() || copy.size() > 32 ? -1 : std::strtod(copy.c_str(), &end);
  if (copy.empty() || end != copy.c_str() + copy.size() || !(v >= 0 && v <= 1)) {
    *why = std::string(name) + " must be a number from 0 to 1, not '" + copy + "'";
    return std::nullopt;
  }
  return v;
}

std::optional<bool> ParseBool(std::string_view text) {
  if (text == "true" || text == "1" || text.empty()) return true;
  if (text == "false" || text == "0") return false;
  return std::nullopt;
}

constexpr size_t kMaxIdLength = 256;

bool BadId(std::string_view id) { return id.empty() || id.size() > kMaxIdLength; }

// ---- selection

struct Scored {
  ItemId item;
  float score;
};

// Best k of scores[0, n) that pass keep, best first (ties: lower id).
template <typename Keep>
void TopK(std::span<const float> scores, size_t k, Keep keep, std::vector<Scored>* out) {
  out->clear();
  if (k == 0) return;
  auto better = [](const Scored& a, const Scored& b) {
    return a.score != b.score ? a.score > b.score : a.item < b.item;
  };
  for (ItemId i = 0; i < scores.size(); ++i) {
    const float s = scores[i];
    if (std::isnan(s)) continue;
    if (out->size() == k && !better({i, s}, out->front())) continue;
    if (!keep(i)) continue;
    if (out->size() == k) {
      std::pop_heap(out->begin(), out->end(), better);
      out->back() = {i, s};
    } else {
      out->push_back({i, s});
    }
    std::push_heap(out->begin(), out->end(), better);
  }
  std::sort_heap(out->begin(), out->end(), better);
}


const ModelSet::Entry* FindModel(const ModelSet* set, std::string_view kind) {
  if (set == nullptr) return nullptr;
  for (const ModelSet::Entry& e : set->models) {
    if (e.loaded.meta.kind == kind) return &e;
  }
  return nullptr;
}

// ?category=: kNoCategory when absent; nullopt with *why when the catalog has no such category.
std::optional<uint32_t> CategoryParam(const ApiRequest& r, const CatalogView& cat,
                                      std::string* why) {
  auto c = Param(r, "category");
  if (!c) return CatalogView::kNoCategory;
  auto found = cat.category_ids.find(std::string(*c));
  if (found == cat.category_ids.end()) {
    *why = "category '" + std::string(*c) + "' is not in the catalog";
    return std::nullopt;
  }
  return found->second;
}

// ?model=: the primary model when absent (null when none is loaded); false with *why when the
// named kind is not active.
bool ModelParam(const ApiRequest& r, const ModelSet* set, const ModelSet::Entry** entry,
                std::string* why) {
  *entry = set != nullptr && !set->models.empty() ? &set->models[0] : nullptr;
  auto m = Param(r, "model");
  if (!m) return true;
  *entry = FindModel(set, *m);
  if (*entry == nullptr) *why = "no active " + std::string(*m) + " model (GET /v1/models)";
  return *entry != nullptr;
}

void WriteFallback(JsonWriter& w, const char* fallback) {
  w.Key("fallback");
  if (fallback != nullptr) {
    w.String(fallback);
  } else {
    w.Null();
  }
}

float Cosine(const ModelSet::Entry& e, ItemId a, ItemId b) {
  const int dim = e.loaded.model->vector_dim();
  const float* x = e.item_vectors.data() + static_cast<size_t>(a) * dim;
  const float* y = e.item_vectors.data() + static_cast<size_t>(b) * dim;
  float dot = 0;
  for (int d = 0; d < dim; ++d) dot += x[d] * y[d];
  const float norm = e.item_norms[a] * e.item_norms[b];
  return norm > 0 ? dot / norm : 0.0f;
}

// Thread-local scratch for catalog-sized score vectors: no allocation per request once warm.
std::vector<float>& ScoreScratch(size_t n) {
  thread_local std::vector<float> scratch;
  if (scratch.size() < n) scratch.resize(n);
  return scratch;
}

}  // namespace

// ---- lifecycle

Service::Service(store::EventStore& store, ApiKeys keys, const ServiceOptions& options)
    : store_(store),
      keys_(std::move(keys)),
      options_(options),
      features_(options.features),
      started_(std::chrono::steady_clock::now()) {}

namespace {

// "v3 sasrec:beauty.fmdl,swing:swing.fmdl" plus `suffix`: the version and each model's kind and
// file name, shown as model_version.
void SetLabel(ModelSet& set, std::string_view suffix) {
  set.label = "v" + std::to_string(set.version);
  for (size_t i = 0; i < set.models.size(); ++i) {
    const std::string& file = set.models[i].file;
    const size_t slash = file.find_last_of('/');
    set.label += (i == 0 ? " " : ",") + set.models[i].loaded.meta.kind + ":" +
                 (slash == std::string::npos ? file : file.substr(slash + 1));
  }
  set.label += suffix;
}

}  // namespace

Result<std::unique_ptr<Service>> Service::Open(store::EventStore& store, ApiKeys keys,
                                               const ServiceOptions& options,
                                               const std::vector<std::string>& model_files,
                                               const std::vector<std::string>& rank_files) {
  std::unique_ptr<Service> s(new Service(store, std::move(keys), options));
  FRESHET_RETURN_IF_ERROR(s->LoadCatalog());
  FRESHET_ASSIGN_OR_RETURN(s->text_, search::BuildTextIndex(store, options.text));
  std::optional<uint64_t> learn_after;
  if (!model_files.empty()) {
    // After a restart, the learned models of the newest snapshot, labelled as their sources.
    auto snapshot = options.online.enabled ? s->FindSnapshot(model_files) : std::nullopt;
    std::shared_ptr<ModelSet> set;
    if (snapshot) {
      auto loaded = s->LoadSet(snapshot->first);
      if (loaded.ok()) {
        set = std::const_pointer_cast<ModelSet>(*loaded);
        for (size_t i = 0; i < set->models.size(); ++i) set->models[i].file = model_files[i];
        learn_after = snapshot->second;
        s->restored_from_seq_ = snapshot->second;
        s->learned_through_seq_ = s->published_through_seq_ = s->snapshot_seq_ = snapshot->second;
      } else {
        std::fprintf(stderr, "freshet serve: snapshot not used (%s); starting from the model files\n",
                     loaded.status().ToString().c_str());
      }
    }
    if (!set) {
      FRESHET_ASSIGN_OR_RETURN(std::shared_ptr<const ModelSet> fresh, s->LoadSet(model_files));
      set = std::const_pointer_cast<ModelSet>(fresh);
    }
    SetLabel(*set, learn_after ? " (restored from snapshot)" : "");
    s->Publish(std::move(set));
  }
  if (!rank_files.empty()) FRESHET_RETURN_IF_ERROR(s->LoadRanker(rank_files));
  FRESHET_RETURN_IF_ERROR(s->ReplayStore(learn_after));
  if (options.online.enabled) s->StartLearner();
  return s;
}

Status Service::ReplayStore(std::optional<uint64_t> learn_after_seq) {
  store::EventTable table;
  FRESHET_RETURN_IF_ERROR(store_.LoadEventTable(&table));
  std::vector<uint32_t> order(table.size());
  std::iota(order.begin(), order.end(), 0u);
  std::sort(order.begin(), order.end(),
            [&](uint32_t a, uint32_t b) { return table.seq[a] < table.seq[b]; });
  // The label joiner sees again the events that can still decide a label: those of the last
  // window (anchors open at the restart are joined as if nothing had stopped) and, after a rank
  // snapshot, those since it, whose decided labels the snapshot has not learned and are queued.
  // Labels decided before (in the training data, or learned before the snapshot) are dropped.
  uint64_t rank_after = 0;
  int64_t join_from_ms = std::numeric_limits<int64_t>::max();
  if (joiner_) {
    const rank::LabelJoinerOptions& jo = joiner_->options();
    int64_t window = 0;
    if (jo.enabled[static_cast<int>(rank::ShopTarget::kClick)]) window = jo.click_window_ms;
    if (jo.enabled[static_cast<int>(rank::ShopTarget::kCart)]) {
      window = std::max(window, jo.cart_window_ms);
    }
    if (jo.enabled[static_cast<int>(rank::ShopTarget::kBuy)]) {
      window = std::max(window, jo.buy_window_ms);
    }
    const int64_t reach = window + jo.allowed_lateness_ms + 1;
    int64_t newest_ms = std::numeric_limits<int64_t>::min();
    for (size_t r = 0; r < table.size(); ++r) {
      rank_after = std::max(rank_after, table.seq[r]);
      newest_ms = std::max(newest_ms, table.ts_ms[r]);
    }
    if (rank_restored_seq_) rank_after = *rank_restored_seq_;
    for (size_t r = 0; r < table.size(); ++r) {
      if (table.seq[r] > rank_after) join_from_ms = std::min(join_from_ms, table.ts_ms[r] - reach);
    }
    if (table.size() > 0) join_from_ms = std::min(join_from_ms, newest_ms - reach);
  }
  std::vector<PendingRankExample> joined;
  const auto now = std::chrono::steady_clock::now();
  {
    std::lock_guard lock(learn_mu_);
    for (uint32_t r : order) {
      const UserId u = table.user[r];
      const ItemId i = table.item[r];
      if (learn_after_seq && table.seq[r] > *learn_after_seq && i != kNoId &&
          IsInteraction(table.type[r])) {
        PendingExample ex{u, i, {}, table.ts_ms[r], table.seq[r], now};
        features_.Recent(u, options_.history_length, &ex.history);
        if (ex.history.empty() || ex.history.back() != i) learn_queue_.push_back(std::move(ex));
      }
      if (joiner_ && table.ts_ms[r] >= join_from_ms) {
        const size_t before = joined.size();
        JoinLabels(u, i, table.type[r], table.ts_ms[r], table.value[r], table.seq[r], &joined);
        if (table.seq[r] <= rank_after) joined.resize(before);
      }
      features_.Apply(u, i, table.type[r], table.ts_ms[r], table.value[r]);
    }
  }
  if (joiner_) QueueRankExamples(std::move(joined));
  return Status::OK();
}

Service::~Service() { StopLearner(); }

Result<std::shared_ptr<const ModelSet>> Service::LoadSet(const std::vector<std::string>& files) {
  auto set = std::make_shared<ModelSet>();
  std::vector<std::string> kinds;
  for (const std::string& file : files) {
    auto loaded = model::LoadModel(file);
    if (!loaded.ok()) return loaded.status();
    if (Status s = model::CheckModelMatchesStore(loaded->meta, store_); !s.ok()) {
      return Status::FailedPrecondition(file + ": " + s.message());
    }
    const std::string kind = loaded->meta.kind;
    if (std::find(kinds.begin(), kinds.end(), kind) != kinds.end()) {
      return Status::InvalidArgument(file + ": a second " + kind +
                                     " model; serve one model per kind");
    }
    kinds.push_back(kind);
    ModelSet::Entry e;
    e.file = file;
    e.loaded = std::move(*loaded);
    if (Status s = PrepareEntry(e); !s.ok()) return Status::InvalidArgument(file + ": " + s.message());
    set->models.push_back(std::move(e));
  }
  set->version = next_version_.fetch_add(1);
  set->lineage = set->version;
  SetLabel(*set, "");
  return std::shared_ptr<const ModelSet>(std::move(set));
}

Status Service::PrepareEntry(ModelSet::Entry& e) {
  const int dim = e.loaded.model->vector_dim();
  if (dim <= 0) return Status::OK();
  e.loaded.model->ItemVectors(&e.item_vectors);
  const size_t n = e.loaded.model->num_items();
  e.item_norms.resize(n);
  for (size_t i = 0; i < n; ++i) {
    float sq = 0;
    for (int d = 0; d < dim; ++d) sq += e.item_vectors[i * dim + d] * e.item_vectors[i * dim + d];
    e.item_norms[i] = std::sqrt(sq);
  }
  if (e.index) return Status::OK();
  auto built = index::BuildIndex(options_.index, static_cast<uint32_t>(dim), e.item_vectors, n);
  if (!built.ok()) return Status::InvalidArgument("index: " + built.status().message());
  e.index = std::move(*built);
  return Status::OK();
}

void Service::Publish(std::shared_ptr<const ModelSet> set) {
  std::lock_guard lock(mu_);
  previous_ = std::move(current_);
  current_ = std::move(set);
}

std::shared_ptr<const ModelSet> Service::models() const {
  std::lock_guard lock(mu_);
  return current_;
}

std::shared_ptr<const CatalogView> Service::catalog() const {
  std::lock_guard lock(mu_);
  return catalog_;
}

Status Service::LoadCatalog() {
  const uint32_t n = store_.counts().items;
  auto view = std::make_shared<CatalogView>();
  view->num_items = n;
  view->category.resize(n, CatalogView::kNoCategory);
  view->out_of_stock.resize(n, 0);
  view->price.resize(n, std::nanf(""));
  auto shop = std::make_shared<rank::ShopCatalog>();
  FRESHET_RETURN_IF_ERROR(store_.ScanItems([&](ItemId id, const Item& item) {
    if (id >= n) return false;
    shop->Set(id, item.category, item.brand, item.price, item.stock);
    if (!item.category.empty()) {
      auto [it, added] = view->category_ids.try_emplace(
          item.category, static_cast<uint32_t>(view->categories.size()));
      if (added) view->categories.push_back(item.category);
      view->category[id] = it->second;
    }
    view->out_of_stock[id] = item.stock == 0;
    if (item.price >= 0) view->price[id] = static_cast<float>(item.price);
    return true;
  }));
  view->shop = std::move(shop);
  std::lock_guard lock(mu_);
  catalog_ = std::move(view);
  return Status::OK();
}

void Service::ExtendCatalog() {
  const uint32_t n = store_.counts().items;
  std::shared_ptr<const CatalogView> old = catalog();
  if (old->num_items >= n) return;
  // Items first seen while serving come from events: the server holds the store, and nothing
  // writes catalog entries meanwhile, so they have no category and count as in stock. No store
  // scan on the event path.
  auto view = std::make_shared<CatalogView>(*old);
  view->num_items = n;
  view->category.resize(n, CatalogView::kNoCategory);
  view->out_of_stock.resize(n, 0);
  view->price.resize(n, std::nanf(""));
  std::lock_guard lock(mu_);
  // Two extensions may race; keep the larger view.
  if (catalog_->num_items < view->num_items) catalog_ = std::move(view);
}

// ---- routing

namespace {

struct RouteSpec {
  std::string_view method;
  // A trailing '/' matches any one further segment; "{}" matches one segment in the middle.
  std::string_view path;
  Endpoint endpoint;
  Role role;
};

constexpr RouteSpec kRoutes[] = {
    {"GET", "/v1/recommend", Endpoint::kRecommend, Role::kRead},
    {"GET", "/v1/similar", Endpoint::kSimilar, Role::kRead},
    {"POST", "/v1/score", Endpoint::kScore, Role::kRead},
    {"GET", "/v1/search", Endpoint::kSearch, Role::kRead},
    {"POST", "/v1/events", Endpoint::kEvents, Role::kWrite},
    {"GET", "/v1/items/", Endpoint::kItem, Role::kRead},
    {"GET", "/v1/users/", Endpoint::kUser, Role::kRead},
    {"GET", "/v1/users/{}/cart", Endpoint::kCart, Role::kRead},
    {"GET", "/v1/models", Endpoint::kModels, Role::kRead},
    {"POST", "/v1/models/activate", Endpoint::kActivate, Role::kAdmin},
    {"GET", "/healthz", Endpoint::kHealth, Role::kNone},
    {"GET", "/readyz", Endpoint::kReady, Role::kNone},
    {"GET", "/metrics", Endpoint::kMetrics, Role::kRead},
};

bool PathMatches(const RouteSpec& route, std::string_view path, std::string_view* tail) {
  if (const size_t hole = route.path.find("{}"); hole != std::string_view::npos) {
    const std::string_view prefix = route.path.substr(0, hole);
    const std::string_view suffix = route.path.substr(hole + 2);
    if (path.size() <= prefix.size() + suffix.size() || !path.starts_with(prefix) ||
        !path.ends_with(suffix)) {
      return false;
    }
    *tail = path.substr(prefix.size(), path.size() - prefix.size() - suffix.size());
    return tail->find('/') == std::string_view::npos;
  }
  if (route.path.back() == '/') {
    if (path.size() <= route.path.size() || path.substr(0, route.path.size()) != route.path) {
      return false;
    }
    *tail = path.substr(route.path.size());
    return tail->find('/') == std::string_view::npos;
  }
  return path == route.path;
}

}  // namespace

ApiResponse Service::Handle(const ApiRequest& request) {
  const auto start = std::chrono::steady_clock::now();
  Endpoint endpoint = Endpoint::kOther;
  ApiResponse response;
  try {
    response = Route(request, &endpoint);
  } catch (const std::exception& e) {
    response = Error(request, models().get(), 500,
                     std::string("internal error (request ") + request.request_id + "): " +
                         e.what());
  } catch (...) {
    response = Error(request, models().get(), 500,
                     "internal error (request " + request.request_id + ")");
  }
  response.endpoint = endpoint;
  metrics_.Observe(endpoint, response.status,
                   std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  return response;
}

ApiResponse Service::Route(const ApiRequest& request, Endpoint* endpoint) {
  const RouteSpec* route = nullptr;
  std::string_view tail;
  std::string allowed;
  for (const RouteSpec& r : kRoutes) {
    std::string_view t;
    if (!PathMatches(r, request.path, &t)) continue;
    if (r.method == request.method) {
      route = &r;
      tail = t;
      break;
    }
    allowed += (allowed.empty() ? "" : ", ") + std::string(r.method);
  }
  if (route == nullptr) {
    if (!allowed.empty()) {
      return Error(request, models().get(), 405,
                   request.method + " is not allowed on " + request.path + " (allowed: " +
                       allowed + ")");
    }
    return Error(request, models().get(), 404,
                 "no endpoint " + request.path + " (see docs/api.md: /v1/recommend, /v1/similar, "
                 "/v1/score, /v1/search, /v1/events, /v1/items/{id}, /v1/users/{id}, "
                 "/v1/users/{id}/cart, /v1/models, "
                 "/healthz, /readyz, /metrics)");
  }
  *endpoint = route->endpoint;
  if (route->role != Role::kNone && !options_.insecure_no_auth) {
    if (request.api_key.empty()) {
      return Error(request, models().get(), 401,
                   "missing API key: send 'Authorization: Bearer KEY' or 'X-API-Key: KEY'");
    }
    const Role role = keys_.Find(request.api_key);
    if (role == Role::kNone) return Error(request, models().get(), 401, "unknown API key");
    if (role < route->role) {
      return Error(request, models().get(), 403,
                   "this key has role '" + std::string(RoleName(role)) + "'; " + request.method +
                       " " + std::string(route->path) + " needs '" +
                       std::string(RoleName(route->role)) + "'");
    }
  }
  switch (route->endpoint) {
    case Endpoint::kRecommend: return Recommend(request);
    case Endpoint::kSimilar: return Similar(request);
    case Endpoint::kScore: return Score(request);
    case Endpoint::kSearch: return Search(request);
    case Endpoint::kEvents: return Events(request);
    case Endpoint::kItem: return GetItem(request, tail);
    case Endpoint::kUser: return GetUser(request, tail);
    case Endpoint::kCart: return GetCart(request, tail);
    case Endpoint::kModels: return ListModels(request);
    case Endpoint::kActivate: return Activate(request);
    case Endpoint::kHealth: {
      JsonWriter w = Begin(request, models().get());
      w.Key("status").String("ok");
      return Done(w);
    }
    case Endpoint::kReady: {
      std::shared_ptr<const ModelSet> set = models();
      JsonWriter w = Begin(request, set.get());
      if (draining_.load()) {
        w.Key("status").String("draining");
        return Done(w, 503);
      }
      w.Key("status").String("ready");
      w.Key("models").Uint(set ? set->models.size() : 0);
      return Done(w);
    }
    case Endpoint::kMetrics: return RenderMetrics();
    case Endpoint::kOther: break;
  }
  return Error(request, models().get(), 404, "no endpoint " + request.path);
}

// ---- recommend

ApiResponse Service::Recommend(const ApiRequest& request) {
  std::shared_ptr<const ModelSet> set = models();
  std::shared_ptr<const CatalogView> cat = catalog();
  std::shared_ptr<const RankSet> rank = ranker();
  if (auto bad = UnknownParam(request, {"user", "k", "exclude", "category", "explain", "model",
                                        "candidates", "objective", "fuse",
                                        "max_per_category", "diversity"})) {
    return Error(request, set.get(), 400, *bad);
  }
  const auto user = Param(request, "user");
  if (!user || BadId(*user)) {
    return Error(request, set.get(), 400,
                 "user is required: GET /v1/recommend?user=ID&k=10 (an id of 1 to 256 bytes)");
  }
  std::string why;
  const auto k = ParseK(Param(request, "k"), options_.default_k, options_.max_k, &why);
  if (!k) return Error(request, set.get(), 400, why);
  bool exclude_seen = false, exclude_bought = false;
  if (auto ex = Param(request, "exclude")) {
    std::string_view rest = *ex;
    while (!rest.empty()) {
      const size_t comma = rest.find(',');
      const std::string_view v = rest.substr(0, comma);
      rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
      if (v == "seen") {
        exclude_seen = true;
      } else if (v == "bought") {
        exclude_bought = true;
      } else if (!v.empty()) {
        return Error(request, set.get(), 400,
                     "exclude takes seen and / or bought (comma-separated), not '" +
                         std::string(v) + "'");
      }
    }
  }
  const std::optional<uint32_t> category_param = CategoryParam(request, *cat, &why);
  if (!category_param) return Error(request, set.get(), 400, why);
  const uint32_t category = *category_param;
  bool explain = false;
  if (auto e = Param(request, "explain")) {
    auto b = ParseBool(*e);
    if (!b) return Error(request, set.get(), 400, "explain must be true or false");
    explain = *b;
  }
  const ModelSet::Entry* entry = nullptr;
  if (!ModelParam(request, set.get(), &entry, &why)) return Error(request, set.get(), 400, why);
  // Two stages: retrieve `candidates`, rank them by the objective, re-rank under the rules.
  const std::optional<Objective> objective =
      ParseObjective(Param(request, "objective"), rank.get(), &why);
  if (!objective) return Error(request, set.get(), 400, why);
  bool fuse = true;
  if (auto f = Param(request, "fuse")) {
    auto b = ParseBool(*f);
    if (!b) {
      return Error(request, set.get(), 400, "fuse must be true or false, not '" + std::string(*f) + "'");
    }
    fuse = *b;
  }
  RerankOptions rules;
  rules.k = *k;
  if (auto m = Param(request, "max_per_category")) {
    const auto cap = ParseWhole("max_per_category", *m, 0, options_.max_k, &why);
    if (!cap) return Error(request, set.get(), 400, why);
    rules.max_per_category = *cap;
  }
  if (auto d = Param(request, "diversity")) {
    const auto diversity = ParseUnit("diversity", *d, &why);
    if (!diversity) return Error(request, set.get(), 400, why);
    rules.diversity = *diversity;
  }
  const bool two_stage = *objective != Objective::kRetrieval || rules.max_per_category > 0 ||
                         rules.diversity > 0;
  size_t num_candidates = two_stage ? std::max(*k, options_.default_candidates) : *k;
  if (auto c = Param(request, "candidates")) {
    const auto n = ParseWhole("candidates", *c, 1, options_.max_candidates, &why);
    if (!n) return Error(request, set.get(), 400, why);
    if (*n < *k) {
      return Error(request, set.get(), 400,
                   "candidates must be at least k (" + std::to_string(*k) + "), not " +
                       std::to_string(*n));
    }
    num_candidates = *n;
  }

  const std::optional<UserId> uid = store_.FindUser(*user);
  std::vector<ItemId> history;
  if (uid) features_.Recent(*uid, options_.history_length, &history);
  std::vector<ItemId> bought;
  if (uid && exclude_bought) features_.Bought(*uid, &bought);
  std::unordered_set<ItemId> excluded;
  if (exclude_seen) excluded.insert(history.begin(), history.end());
  excluded.insert(bought.begin(), bought.end());
  const model::Recommender* const served = entry ? entry->loaded.model.get() : nullptr;
  auto keep = [&](ItemId i) {
    // Items the model holds nothing for (new, not yet learned; expired) are not recommended.
    if (served != nullptr && i < served->num_items() && !served->item_active(i)) return false;
    if (i < cat->num_items) {
      if (cat->out_of_stock[i]) return false;
      if (category != CatalogView::kNoCategory && cat->category[i] != category) return false;
    } else if (category != CatalogView::kNoCategory) {
      return false;  // an item newer than this catalog view has no known category
    }
    return excluded.empty() || excluded.count(i) == 0;
  };

  std::vector<Scored> top;
  const char* fallback = nullptr;
  const model::Recommender* model = entry ? entry->loaded.model.get() : nullptr;
  bool personal = false;
  if (model != nullptr && !history.empty()) {
    bool any_known = false;
    for (ItemId h : history) any_known |= h < model->num_items();
    if (any_known && entry->index) {
      // Vector model: the user's query vector against the item index, filters applied inside.
      thread_local std::vector<float> query;
      thread_local std::vector<index::Hit> hits;
      query.resize(static_cast<size_t>(model->vector_dim()));
      if (model->QueryVector(uid.value_or(kNoId), history, query)) {
        entry->index->Search(query, num_candidates, keep, &hits);
        // The index is shared by the online copies of the model: score with this copy's
        // vectors (an item added after this copy was made is not in it: skip it).
        const size_t dim = query.size();
        for (const index::Hit& h : hits) {
          if (static_cast<size_t>(h.item) * dim + dim > entry->item_vectors.size()) continue;
          const float* v = entry->item_vectors.data() + static_cast<size_t>(h.item) * dim;
          float score = 0;
          for (size_t d = 0; d < dim; ++d) score += query[d] * v[d];
          top.push_back({h.item, score});
        }
        std::sort(top.begin(), top.end(), [](const Scored& a, const Scored& b) {
          return a.score > b.score || (a.score == b.score && a.item < b.item);
        });
        personal = true;
      }
    } else if (any_known) {
      const size_t n = model->num_items();
      std::vector<float>& scores = ScoreScratch(n);
      model->ScoreAll(uid.value_or(kNoId), history, {scores.data(), n});
      TopK({scores.data(), n}, num_candidates, keep, &top);
      personal = true;
    }
  }
  if (!personal) {
    fallback = "popular";
    std::vector<std::pair<ItemId, float>> trending;
    const std::function<bool(ItemId)> keep_fn = keep;
    features_.Trending(num_candidates, &keep_fn, &trending);
    for (auto [i, s] : trending) top.push_back({i, s});
  }

  // Stage two: the ranker's probabilities and the objective, then the page's rules.
  std::vector<RankedItem> ranked;
  ranked.reserve(top.size());
  for (const Scored& s : top) {
    RankedItem r;
    r.item = s.item;
    r.retrieval = r.score = s.score;
    ranked.push_back(r);
  }
  if (*objective != Objective::kRetrieval) {
    RankItems(*rank, *objective, fuse, uid.value_or(kNoId), *cat, &ranked);
  }
  std::vector<RerankCandidate> pool, page;
  pool.reserve(ranked.size());
  for (size_t j = 0; j < ranked.size(); ++j) {
    const ItemId i = ranked[j].item;
    pool.push_back({static_cast<ItemId>(j), ranked[j].score,
                    i < cat->num_items ? cat->category[i] : RerankOptions::kNoCategory});
  }
  Rerank(pool, rules, &page);  // .item holds the index into `ranked`

  JsonWriter w = Begin(request, set.get());
  w.Key("user").String(*user);
  w.Key("model").String(personal ? entry->loaded.meta.kind : std::string("popularity"));
  WriteFallback(w, fallback);
  w.Key("objective").String(ObjectiveName(*objective));
  w.Key("fused").Bool(fuse && *objective != Objective::kRetrieval);
  w.Key("candidates").Uint(ranked.size());
  w.Key("items").BeginArray();
  for (const RerankCandidate& picked : page) {
    const RankedItem& s = ranked[picked.item];
    w.BeginObject();
    w.Key("item").String(store_.ItemName(s.item));
    w.Key("score").Double(s.score);
    if (*objective != Objective::kRetrieval) {
      w.Key("retrieval_score").Double(s.retrieval);
      WriteProbabilities(w, s.p);
    }
    if (explain) {
      w.Key("reason");
      if (!personal) {
        w.String("trending in the shop");
      } else if (!entry->item_vectors.empty()) {
        // The history item whose embedding is closest (cosine) to the recommended one.
        ItemId best = kNoId;
        float best_sim = -2;
        for (ItemId h : history) {
          if (h >= model->num_items() || h == s.item) continue;
          const float sim = Cosine(*entry, h, s.item);
          if (sim > best_sim) best_sim = sim, best = h;
        }
        if (best == kNoId) {
          w.String("from your recent activity");
        } else {
          char buf[32];
          std::snprintf(buf, sizeof buf, "%.2f", best_sim);
          w.String("similar to " + store_.ItemName(best) + " you interacted with (cosine " +
                   buf + ")");
        }
      } else {
        // Co-occurrence models: the recent item whose neighbour list holds the recommendation.
        std::string reason = "from your recent activity";
        std::vector<std::pair<ItemId, float>> nbrs;
        for (size_t j = history.size(); j-- > 0 && history.size() - j <= 10;) {
          if (history[j] >= model->num_items()) continue;
          model->Similar(history[j], 100, &nbrs);
          if (std::any_of(nbrs.begin(), nbrs.end(), [&](auto& p) { return p.first == s.item; })) {
            reason = "often taken with " + store_.ItemName(history[j]) + " you interacted with";
            break;
          }
        }
        w.String(reason);
      }
    }
    w.EndObject();
  }
  w.EndArray();
  return Done(w);
}

// ---- similar

ApiResponse Service::Similar(const ApiRequest& request) {
  std::shared_ptr<const ModelSet> set = models();
  std::shared_ptr<const CatalogView> cat = catalog();
  if (auto bad = UnknownParam(request, {"item", "k", "model"})) {
    return Error(request, set.get(), 400, *bad);
  }
  const auto item = Param(request, "item");
  if (!item || BadId(*item)) {
    return Error(request, set.get(), 400, "item is required: GET /v1/similar?item=ID&k=10");
  }
  std::string why;
  const auto k = ParseK(Param(request, "k"), options_.default_k, options_.max_k, &why);
  if (!k) return Error(request, set.get(), 400, why);
  const std::optional<ItemId> iid = store_.FindItem(*item);
  if (!iid) return Error(request, set.get(), 404, "unknown item '" + std::string(*item) + "'");
  const ModelSet::Entry* entry = nullptr;
  if (!ModelParam(request, set.get(), &entry, &why)) return Error(request, set.get(), 400, why);
  std::vector<std::pair<ItemId, float>> found;
  const char* fallback = nullptr;
  if (entry != nullptr && *iid < entry->loaded.model->num_items()) {
    // Ask for more than k: out-of-stock neighbours are dropped.
    entry->loaded.model->Similar(*iid, *k + 32, &found);
    std::erase_if(found, [&](auto& p) { return p.first < cat->num_items && cat->out_of_stock[p.first]; });
    if (found.size() > *k) found.resize(*k);
  }
  if (found.empty()) {
    fallback = "popular";
    const std::function<bool(ItemId)> keep = [&](ItemId i) {
      return i != *iid && !(i < cat->num_items && cat->out_of_stock[i]);
    };
    features_.Trending(*k, &keep, &found);
  }
  JsonWriter w = Begin(request, set.get());
  w.Key("item").String(*item);
  w.Key("model").String(fallback ? std::string("popularity") : entry->loaded.meta.kind);
  WriteFallback(w, fallback);
  w.Key("items").BeginArray();
  for (auto [i, s] : found) {
    w.BeginObject();
    w.Key("item").String(store_.ItemName(i));
    w.Key("score").Double(s);
    w.EndObject();
  }
  w.EndArray();
  return Done(w);
}

// ---- score

namespace {

// A JSON id (string or integer) as text; false with *why when it is neither.
bool JsonId(simdjson::dom::element v, std::string* out, std::string* why) {
  switch (v.type()) {
    case element_type::STRING:
      *out = std::string(v.get_string().value_unsafe());
      return true;
    case element_type::INT64:
      *out = std::to_string(v.get_int64().value_unsafe());
      return true;
    case element_type::UINT64:
      *out = std::to_string(v.get_uint64().value_unsafe());
      return true;
    default:
      *why = "must be a string or an integer";
      return false;
  }
}

}  // namespace

ApiResponse Service::Score(const ApiRequest& request) {
  std::shared_ptr<const ModelSet> set = models();
  std::shared_ptr<const CatalogView> cat = catalog();
  std::shared_ptr<const RankSet> rank = ranker();
  bool explain = false;
  for (const auto& [k, v] : request.query) {
    if (k != "explain") {
      return Error(request, set.get(), 400,
                   "unknown query parameter '" + k +
                       "': POST /v1/score takes a JSON body and only ?explain=true");
    }
    auto b = ParseBool(v);
    if (!b) return Error(request, set.get(), 400, "explain must be true or false, not '" + v + "'");
    explain = *b;
  }
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  if (auto err = parser.parse(request.body).get(doc)) {
    return Error(request, set.get(), 400,
                 std::string("the body is not valid JSON: ") + simdjson::error_message(err));
  }
  simdjson::dom::object obj;
  if (doc.get_object().get(obj)) {
    return Error(request, set.get(), 400,
                 "the body must be a JSON object: {\"user\": ID, \"items\": [ID, ...]}");
  }
  std::string user, why;
  simdjson::dom::array items;
  bool has_user = false, has_items = false;
  for (auto [key, value] : obj) {
    if (key == "user") {
      if (!JsonId(value, &user, &why) || BadId(user)) {
        return Error(request, set.get(), 400, "user " + (why.empty() ? "must be 1 to 256 bytes" : why));
      }
      has_user = true;
    } else if (key == "items") {
      if (value.get_array().get(items)) {
        return Error(request, set.get(), 400, "items must be an array of item ids");
      }
      has_items = true;
    } else if (key == "context") {
      if (value.type() != element_type::OBJECT && value.type() != element_type::NULL_VALUE) {
        return Error(request, set.get(), 400, "context must be an object");
      }
    } else if (key == "explain") {
      if (value.get_bool().get(explain)) {
        return Error(request, set.get(), 400, "explain must be true or false");
      }
    } else {
      return Error(request, set.get(), 400,
                   "unknown key '" + std::string(key) + "' (user, items, context, explain)");
    }
  }
  if (explain && !rank) {
    return Error(request, set.get(), 400,
                 "explain needs ranking models: no ranker is loaded (freshet serve --rank FILE); "
                 "retrieval scores have no feature contributions");
  }
  if (!has_user) return Error(request, set.get(), 400, "user is required");
  if (!has_items) return Error(request, set.get(), 400, "items is required");
  if (items.size() > options_.max_score_items) {
    return Error(request, set.get(), 413,
                 "items has " + std::to_string(items.size()) + " entries; at most " +
                     std::to_string(options_.max_score_items) + " per request");
  }
  std::vector<std::string> names;
  std::vector<ItemId> ids;
  size_t index = 0;
  for (simdjson::dom::element v : items) {
    std::string name;
    if (!JsonId(v, &name, &why) || BadId(name)) {
      return Error(request, set.get(), 400,
                   "items[" + std::to_string(index) + "] " + (why.empty() ? "must be 1 to 256 bytes" : why));
    }
    const std::optional<ItemId> id = store_.FindItem(name);
    if (!id) {
      return Error(request, set.get(), 404,
                   "items[" + std::to_string(index) + "]: unknown item '" + name + "'");
    }
    names.push_back(std::move(name));
    ids.push_back(*id);
    ++index;
  }
  const std::optional<UserId> uid = store_.FindUser(user);
  std::vector<ItemId> history;
  if (uid) features_.Recent(*uid, options_.history_length, &history);

  // Per model: its scores of the requested items it knows (NaN: newer than the model).
  const size_t num_models = set ? set->models.size() : 0;
  std::vector<float> scores(num_models * ids.size(), std::nanf(""));
  std::vector<ItemId> known;
  std::vector<float> out;
  for (size_t m = 0; m < num_models; ++m) {
    const model::Recommender& model = *set->models[m].loaded.model;
    known.clear();
    std::vector<size_t> where;
    for (size_t j = 0; j < ids.size(); ++j) {
      if (ids[j] < model.num_items()) known.push_back(ids[j]), where.push_back(j);
    }
    out.resize(known.size());
    model.ScoreItems(uid.value_or(kNoId), history, known, out);
    for (size_t j = 0; j < known.size(); ++j) scores[m * ids.size() + where[j]] = out[j];
  }
  // The ranker's probabilities (and, with explain, its features' contributions).
  std::vector<rank::ShopScores> probabilities;
  const rank::ShopContext context = RankContext();
  thread_local rank::ShopRanker::Scratch scratch;
  if (rank) {
    probabilities.resize(ids.size());
    rank->ranker->Score(features_, *cat->shop, uid.value_or(kNoId), ids, context, scratch,
                        probabilities);
  }
  JsonWriter w = Begin(request, set.get());
  w.Key("ranker_version");
  if (rank) {
    w.String(rank->label);
  } else {
    w.Null();
    w.Key("unranked").String(
        "no ranking models loaded (freshet serve --rank FILE): p_click, p_cart and p_buy are "
        "not computed");
  }
  w.Key("user").String(user);
  w.Key("scores").BeginArray();
  std::vector<rank::Contribution> contributions;
  for (size_t j = 0; j < ids.size(); ++j) {
    w.BeginObject();
    w.Key("item").String(names[j]);
    for (size_t m = 0; m < num_models; ++m) {
      w.Key(set->models[m].loaded.meta.kind).Double(scores[m * ids.size() + j]);  // NaN -> null
    }
    if (rank) WriteProbabilities(w, probabilities[j]);
    if (explain) {
      w.Key("explain").BeginObject();
      for (rank::ShopTarget t :
           {rank::ShopTarget::kClick, rank::ShopTarget::kCart, rank::ShopTarget::kBuy}) {
        if (!rank->ranker->has(t)) continue;
        w.Key(rank::ShopTargetName(t)).BeginObject();
        float bias = 0;
        const Status s = rank->ranker->Explain(features_, *cat->shop, uid.value_or(kNoId),
                                               ids[j], context, t, options_.explain_features,
                                               &contributions, &bias);
        if (s.ok()) {
          w.Key("bias").Double(bias);
          w.Key("features").BeginArray();
          for (const rank::Contribution& c : contributions) {
            w.BeginObject();
            w.Key("feature").String(c.feature);
            w.Key("contribution").Double(c.value);
            w.EndObject();
          }
          w.EndArray();
        } else {
          w.Key("unexplained").String(s.message());
        }
        w.EndObject();
      }
      w.EndObject();
    }
    w.EndObject();
  }
  w.EndArray();
  return Done(w);
}

// ---- search

ApiResponse Service::Search(const ApiRequest& request) {
  std::shared_ptr<const ModelSet> set = models();
  std::shared_ptr<const CatalogView> cat = catalog();
  if (auto bad = UnknownParam(request, {"q", "user", "k", "category"})) {
    return Error(request, set.get(), 400, *bad);
  }
  const auto q = Param(request, "q");
  if (!q) return Error(request, set.get(), 400, "q is required: GET /v1/search?q=TEXT&k=10");
  std::string why;
  const auto k = ParseK(Param(request, "k"), options_.default_k, options_.max_k, &why);
  if (!k) return Error(request, set.get(), 400, why);
  const std::optional<uint32_t> category_param = CategoryParam(request, *cat, &why);
  if (!category_param) return Error(request, set.get(), 400, why);
  const uint32_t category = *category_param;
  const auto user = Param(request, "user");
  if (user && BadId(*user)) return Error(request, set.get(), 400, "user must be 1 to 256 bytes");
  search::FilterFn keep([&](ItemId i) {
    if (i >= cat->num_items) return category == CatalogView::kNoCategory;
    return !cat->out_of_stock[i] &&
           (category == CatalogView::kNoCategory || cat->category[i] == category);
  });
  // With a user, re-rank a wider pool of text hits by the primary model.
  std::vector<ItemId> history;
  std::optional<UserId> uid;
  if (user) uid = store_.FindUser(*user);
  if (uid) features_.Recent(*uid, options_.history_length, &history);
  const model::Recommender* model =
      set && !set->models.empty() ? set->models[0].loaded.model.get() : nullptr;
  const bool personal = model != nullptr && !history.empty() && options_.personal_weight > 0;
  std::vector<search::Hit> hits;
  if (Status s = text_->Search(*q, personal ? std::max<size_t>(*k * 5, 50) : *k, &keep, &hits);
      !s.ok()) {
    return Error(request, set.get(), 400, s.message());
  }
  struct Row {
    ItemId item;
    float text;
    float personal;
    float score;
  };
  std::vector<Row> rows;
  for (const search::Hit& h : hits) rows.push_back({h.item, h.score, std::nanf(""), h.score});
  if (personal && !rows.empty()) {
    std::vector<ItemId> known;
    std::vector<size_t> where;
    for (size_t j = 0; j < rows.size(); ++j) {
      if (rows[j].item < model->num_items()) known.push_back(rows[j].item), where.push_back(j);
    }
    std::vector<float> scores(known.size());
    model->ScoreItems(*uid, history, known, scores);
    float lo = INFINITY, hi = -INFINITY;
    for (float s : scores) lo = std::min(lo, s), hi = std::max(hi, s);
    for (size_t j = 0; j < known.size(); ++j) {
      rows[where[j]].personal = hi > lo ? (scores[j] - lo) / (hi - lo) : 0.5f;
    }
    const float best_text = rows.front().text > 0 ? rows.front().text : 1.0f;
    for (Row& r : rows) {
      r.score = r.text / best_text +
                static_cast<float>(options_.personal_weight) *
                    (std::isnan(r.personal) ? 0.0f : r.personal);
    }
    std::stable_sort(rows.begin(), rows.end(), [](const Row& a, const Row& b) {
      return a.score != b.score ? a.score > b.score : a.item < b.item;
    });
    if (rows.size() > *k) rows.resize(*k);
  }
  JsonWriter w = Begin(request, set.get());
  w.Key("q").String(*q);
  w.Key("personalised").Bool(personal);
  w.Key("items").BeginArray();
  for (const Row& r : rows) {
    w.BeginObject();
    w.Key("item").String(store_.ItemName(r.item));
    w.Key("score").Double(r.score);
    w.Key("text_score").Double(r.text);
    if (personal) w.Key("personal_score").Double(r.personal);
    w.EndObject();
  }
  w.EndArray();
  return Done(w);
}

// ---- events

ApiResponse Service::Events(const ApiRequest& request) {
  std::shared_ptr<const ModelSet> set = models();
  if (!request.query.empty()) {
    return Error(request, set.get(), 400, "POST /v1/events takes a JSON body, no query parameters");
  }
  static const Result<io::JsonEventDecoder> decoder = io::JsonEventDecoder::Create({});
  const int64_t now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                             std::chrono::system_clock::now().time_since_epoch())
                             .count();
  // The body is one object, an array of objects, or JSON lines.
  std::vector<Event> events;
  std::vector<std::string> keys;
  std::vector<size_t> indexes;  // the record index of each accepted event
  struct Rejected {
    size_t index;
    std::string field;
    std::string reason;
  };
  std::vector<Rejected> rejected;
  auto take = [&](simdjson::dom::element value, size_t index) {
    simdjson::dom::object object;
    if (value.get_object().get(object)) {
      rejected.push_back({index, "", "must be a JSON object"});
      return;
    }
    Event e;
    io::FieldProblem problem;
    if (!decoder->Decode(object, now_ms, &e, &problem)) {
      rejected.push_back({index, std::move(problem.field), std::move(problem.reason)});
      return;
    }
    if (auto err = ValidateEvent(e)) {
      rejected.push_back({index, std::move(err->field), std::move(err->reason)});
      return;
    }
    keys.push_back(e.event_id.empty() ? std::string() : "id:" + e.event_id);
    events.push_back(std::move(e));
    indexes.push_back(index);
  };
  size_t records = 0;
  std::string_view body = request.body;
  while (!body.empty() && std::isspace(static_cast<unsigned char>(body.front()))) {
    body.remove_prefix(1);
  }
  if (body.empty()) {
    return Error(request, set.get(), 400,
                 "the body is empty: send a JSON event, an array of events or JSON lines");
  }
  simdjson::dom::parser parser;
  if (body.front() == '[') {
    simdjson::dom::element doc;
    if (auto err = parser.parse(body).get(doc)) {
      return Error(request, set.get(), 400,
                   std::string("the body is not valid JSON: ") + simdjson::error_message(err));
    }
    simdjson::dom::array array = doc.get_array().value_unsafe();
    if (array.size() > options_.max_events_per_request) {
      return Error(request, set.get(), 413,
                   "the body has " + std::to_string(array.size()) + " events; at most " +
                       std::to_string(options_.max_events_per_request) + " per request");
    }
    for (simdjson::dom::element v : array) take(v, records++);
  } else {
    // One object or JSON lines: each non-blank line is a record (so a bad line names its index).
    size_t start = 0;
    const std::string_view all = body;
    while (start < all.size()) {
      size_t end = all.find('\n', start);
      if (end == std::string_view::npos) end = all.size();
      std::string_view line = all.substr(start, end - start);
      start = end + 1;
      while (!line.empty() && std::isspace(static_cast<unsigned char>(line.back()))) {
        line.remove_suffix(1);
      }
      while (!line.empty() && std::isspace(static_cast<unsigned char>(line.front()))) {
        line.remove_prefix(1);
      }
      if (line.empty()) continue;
      if (records >= options_.max_events_per_request) {
        return Error(request, set.get(), 413,
                     "the body has more than " + std::to_string(options_.max_events_per_request) +
                         " events; split it");
      }
      simdjson::dom::element doc;
      if (auto err = parser.parse(line).get(doc)) {
        // A single pretty-printed object spans lines: try the whole body once.
        if (records == 0 && start < all.size()) {
          if (!parser.parse(all).get(doc)) {
            take(doc, records++);
            break;
          }
        }
        rejected.push_back({records++, "", std::string("is not valid JSON: ") +
                                               simdjson::error_message(err)});
        continue;
      }
      take(doc, records++);
    }
  }
  store::AppendStats stats;
  if (!events.empty()) {
    if (Status s = Ingest(events, keys, &stats); !s.ok()) {
      // Nothing of the batch was acknowledged: the client may retry it whole.
      return Error(request, set.get(), s.IsInvalidArgument() ? 400 : 503,
                   "events not stored: " + s.message());
    }
  }
  events_accepted_ += stats.accepted;
  events_duplicate_ += stats.duplicates;
  events_rejected_ += rejected.size();
  const int status = rejected.empty() ? 200 : events.empty() ? 400 : 207;
  JsonWriter w = Begin(request, set.get());
  w.Key("received").Uint(records);
  w.Key("accepted").Uint(stats.accepted);
  w.Key("duplicates").Uint(stats.duplicates);
  w.Key("rejected").BeginArray();
  for (const Rejected& r : rejected) {
    w.BeginObject();
    w.Key("index").Uint(r.index);
    w.Key("field").String(r.field);
    w.Key("reason").String(r.reason);
    w.EndObject();
  }
  w.EndArray();
  if (status == 400) {
    w.Key("error").BeginObject();
    w.Key("code").String("bad_request");
    w.Key("message").String("no event accepted: every record was rejected (see rejected)");
    w.EndObject();
  }
  return Done(w, status);
}

Status Service::Ingest(std::span<const Event> events, std::span<const std::string> keys,
                       store::AppendStats* stats) {
  // One batch at a time from append to the last Apply, so that the feature state and the
  // learners see events in sequence order, as a restart replays them.
  std::lock_guard ingest(ingest_mu_);
  const size_t first = stats->seqs.size();
  FRESHET_RETURN_IF_ERROR(store_.Append(events, keys, stats));
  const auto accepted = std::chrono::steady_clock::now();
  std::vector<PendingExample> examples;
  std::vector<PendingRankExample> joined;  // ranking examples the label joiner decided
  // Durable: now visible to the next request. Duplicates were not written and change nothing.
  for (size_t j = 0; j < events.size(); ++j) {
    if (stats->seqs[first + j] == store::AppendStats::kDuplicate) continue;
    const Event& e = events[j];
    const std::optional<UserId> u = store_.FindUser(e.user);
    const std::optional<ItemId> i = e.item.empty() ? std::nullopt : store_.FindItem(e.item);
    if (!u) continue;
    if (options_.online.enabled && i && IsInteraction(e.type)) {
      // The history as it stood before this event: what the model should have predicted from.
      PendingExample ex{*u, *i, {}, e.ts_ms, stats->seqs[first + j], accepted};
      features_.Recent(*u, options_.history_length, &ex.history);
      if (ex.history.empty() || ex.history.back() != *i) examples.push_back(std::move(ex));
    }
    // Before Apply: an anchor's features are the state before its event.
    if (joiner_) {
      JoinLabels(*u, i.value_or(kNoId), e.type, e.ts_ms, e.value, stats->seqs[first + j], &joined);
    }
    features_.Apply(*u, i.value_or(kNoId), e.type, e.ts_ms, static_cast<float>(e.value));
  }
  ExtendCatalog();
  if (joiner_) QueueRankExamples(std::move(joined));
  if (!examples.empty()) {
    std::lock_guard lock(learn_mu_);
    for (PendingExample& ex : examples) learn_queue_.push_back(std::move(ex));
    while (learn_queue_.size() > options_.online.max_queue) {
      learn_queue_.pop_front();
      online_.dropped.fetch_add(1, std::memory_order_relaxed);
    }
    learn_cv_.notify_one();
  }
  return Status::OK();
}

void Service::AddMetricsSource(std::function<void(std::string* out)> fn) {
  metrics_sources_.push_back(std::move(fn));
}

// ---- items, users

ApiResponse Service::GetItem(const ApiRequest& request, std::string_view id) {
  std::shared_ptr<const ModelSet> set = models();
  if (!request.query.empty()) return Error(request, set.get(), 400, "no query parameters here");
  const std::optional<ItemId> iid = store_.FindItem(id);
  if (!iid) return Error(request, set.get(), 404, "unknown item '" + std::string(id) + "'");
  Item item;
  const Status s = store_.GetItem(*iid, &item);
  if (!s.ok() && !s.IsNotFound()) return Error(request, set.get(), 500, s.message());
  JsonWriter w = Begin(request, set.get());
  w.Key("item").String(id);
  w.Key("in_catalog").Bool(s.ok());
  if (s.ok()) {
    w.Key("title").String(item.title);
    w.Key("category").String(item.category);
    w.Key("brand").String(item.brand);
    if (item.price >= 0) {
      w.Key("price").Double(item.price);
    } else {
      w.Key("price").Null();
    }
    if (item.stock >= 0) {
      w.Key("stock").Int(item.stock);
    } else {
      w.Key("stock").Null();
    }
    w.Key("attrs").BeginObject();
    for (const auto& [k, v] : item.attrs) w.Key(k).String(v);
    w.EndObject();
  }
  w.Key("popularity").Double(features_.Popularity(*iid));
  return Done(w);
}

ApiResponse Service::GetUser(const ApiRequest& request, std::string_view id) {
  std::shared_ptr<const ModelSet> set = models();
  std::shared_ptr<const CatalogView> cat = catalog();
  if (!request.query.empty()) return Error(request, set.get(), 400, "no query parameters here");
  const std::optional<UserId> uid = store_.FindUser(id);
  feature::FeatureState::UserSummary summary;
  if (!uid || !features_.Summary(*uid, &summary)) {
    return Error(request, set.get(), 404, "unknown user '" + std::string(id) + "'");
  }
  std::vector<ItemId> recent;
  features_.Recent(*uid, options_.history_length, &recent);
  std::unordered_map<uint32_t, uint32_t> by_category;
  for (ItemId i : recent) {
    if (i < cat->num_items && cat->category[i] != CatalogView::kNoCategory) {
      ++by_category[cat->category[i]];
    }
  }
  std::vector<std::pair<uint32_t, uint32_t>> top(by_category.begin(), by_category.end());
  std::sort(top.begin(), top.end(), [&](auto& a, auto& b) {
    return a.second != b.second ? a.second > b.second : cat->categories[a.first] < cat->categories[b.first];
  });
  if (top.size() > 5) top.resize(5);
  JsonWriter w = Begin(request, set.get());
  w.Key("user").String(id);
  w.Key("events").Uint(summary.events);
  w.Key("interactions").Uint(summary.interactions);
  w.Key("last_event").String(FormatTimestamp(summary.last_ts_ms));
  w.Key("recent").BeginArray();  // newest first
  for (size_t j = recent.size(); j-- > 0 && recent.size() - j <= 20;) {
    w.String(store_.ItemName(recent[j]));
  }
  w.EndArray();
  w.Key("top_categories").BeginArray();
  for (auto [c, n] : top) {
    w.BeginObject();
    w.Key("category").String(cat->categories[c]);
    w.Key("recent_items").Uint(n);
    w.EndObject();
  }
  w.EndArray();
  return Done(w);
}

// ---- models

namespace {

void WriteSet(JsonWriter& w, const ModelSet& set) {
  w.BeginObject();
  w.Key("version").String(set.label);
  w.Key("models").BeginArray();
  for (const ModelSet::Entry& e : set.models) {
    w.BeginObject();
    w.Key("kind").String(e.loaded.meta.kind);
    w.Key("file").String(e.file);
    w.Key("trained_on").String(e.loaded.meta.dataset);
    w.Key("protocol").String(e.loaded.meta.protocol);
    w.Key("items").Uint(e.loaded.meta.num_items);
    w.Key("retrieval").String(e.index ? std::string(e.index->kind()) : std::string("scan"));
    w.Key("train_seconds").Double(e.loaded.meta.report.seconds);
    w.Key("options").BeginObject();
    for (const auto& [k, v] : e.loaded.model->params()) w.Key(k).String(v);
    w.EndObject();
    w.EndObject();
  }
  w.EndArray();
  w.EndObject();
}

}  // namespace

ApiResponse Service::ListModels(const ApiRequest& request) {
  std::shared_ptr<const ModelSet> current, previous;
  {
    std::lock_guard lock(mu_);
    current = current_;
    previous = previous_;
  }
  JsonWriter w = Begin(request, current.get());
  w.Key("active");
  if (current) {
    WriteSet(w, *current);
  } else {
    w.Null();
  }
  w.Key("previous");
  if (previous) {
    WriteSet(w, *previous);
  } else {
    w.Null();
  }
  // The shop ranker (--rank): its version and files; null without one.
  w.Key("rank");
  if (std::shared_ptr<const RankSet> rank = ranker()) {
    w.BeginObject();
    w.Key("version").String(rank->label);
    w.Key("online_steps").Uint(rank->online_steps);
    w.Key("models").BeginArray();
    for (const std::string& file : rank->sources) w.String(file);
    w.EndArray();
    w.Key("targets").BeginArray();
    for (rank::ShopTarget t :
         {rank::ShopTarget::kClick, rank::ShopTarget::kCart, rank::ShopTarget::kBuy}) {
      if (rank->ranker->has(t)) w.String(rank::ShopTargetName(t));
    }
    w.EndArray();
    w.EndObject();
  } else {
    w.Null();
  }
  return Done(w);
}

ApiResponse Service::Activate(const ApiRequest& request) {
  std::lock_guard one_at_a_time(activate_mu_);
  std::shared_ptr<const ModelSet> set = models();
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  simdjson::dom::object obj;
  if (parser.parse(request.body).get(doc) || doc.get_object().get(obj)) {
    return Error(request, set.get(), 400,
                 "the body must be a JSON object: {\"files\": [\"model.fmdl\", ...]}, "
                 "{\"file\": \"model.fmdl\"}, {\"rollback\": true}, {\"rank\": "
                 "[\"click.fmdl\", ...]} or {\"rank_rollback\": true}");
  }
  std::vector<std::string> files;
  std::vector<std::string> rank_files;
  bool single = false;  // "file": replace the model of its kind, keep the others
  bool rollback = false;
  bool rank_rollback = false;
  for (auto [key, value] : obj) {
    if (key == "file") {
      std::string_view f;
      if (value.get_string().get(f) || f.empty()) {
        return Error(request, set.get(), 400, "file must be a non-empty string");
      }
      files.emplace_back(f);
      single = true;
    } else if (key == "files") {
      simdjson::dom::array a;
      if (value.get_array().get(a)) return Error(request, set.get(), 400, "files must be an array");
      for (simdjson::dom::element v : a) {
        std::string_view f;
        if (v.get_string().get(f) || f.empty()) {
          return Error(request, set.get(), 400, "files must hold non-empty strings");
        }
        files.emplace_back(f);
      }
    } else if (key == "rollback") {
      bool b = false;
      if (value.get_bool().get(b)) return Error(request, set.get(), 400, "rollback must be true or false");
      rollback = b;
    } else if (key == "rank") {
      simdjson::dom::array a;
      if (value.get_array().get(a)) return Error(request, set.get(), 400, "rank must be an array");
      for (simdjson::dom::element v : a) {
        std::string_view f;
        if (v.get_string().get(f) || f.empty()) {
          return Error(request, set.get(), 400, "rank must hold non-empty strings");
        }
        rank_files.emplace_back(f);
      }
      if (rank_files.empty()) return Error(request, set.get(), 400, "rank must name 1 to 3 files");
    } else if (key == "rank_rollback") {
      bool b = false;
      if (value.get_bool().get(b)) {
        return Error(request, set.get(), 400, "rank_rollback must be true or false");
      }
      rank_rollback = b;
    } else {
      return Error(request, set.get(), 400,
                   "unknown key '" + std::string(key) +
                       "' (file, files, rollback, rank, rank_rollback)");
    }
  }
  const int operations = (rollback ? 1 : 0) + (files.empty() ? 0 : 1) + (rank_rollback ? 1 : 0) +
                         (rank_files.empty() ? 0 : 1);
  if (operations != 1) {
    return Error(request, set.get(), 400,
                 "give one of: files to load, \"rollback\": true, rank files to load, "
                 "\"rank_rollback\": true");
  }
  if (rank_rollback || !rank_files.empty()) {
    auto swapped = ActivateRanker(rank_files, rank_rollback);
    if (!swapped.ok()) {
      const bool nothing = swapped.status().code() == Status::Code::kFailedPrecondition &&
                           rank_rollback;
      return Error(request, set.get(), nothing ? 409 : 400,
                   nothing ? swapped.status().message()
                           : "not activated: " + swapped.status().message());
    }
    JsonWriter w = Begin(request, set.get());
    w.Key("activated_rank").String(swapped->first->label);
    w.Key("previous_rank").String(swapped->second ? swapped->second->label : "none");
    return Done(w);
  }
  std::shared_ptr<const ModelSet> next;
  if (rollback) {
    std::lock_guard lock(mu_);
    if (!previous_) return Error(request, current_.get(), 409, "there is no previous model set");
    std::swap(current_, previous_);
    next = current_;
    set = previous_;
  } else {
    if (single && files.size() == 1 && set) {
      auto probe = model::LoadModel(files[0]);
      if (!probe.ok()) {
        return Error(request, set.get(), 400, "not activated: " + probe.status().message());
      }
      std::vector<std::string> merged;
      bool replaced = false;
      for (const ModelSet::Entry& e : set->models) {
        const bool same = e.loaded.meta.kind == probe->meta.kind;
        merged.push_back(same ? files[0] : e.file);
        replaced |= same;
      }
      if (!replaced) merged.push_back(files[0]);
      files = std::move(merged);
    }
    auto loaded = LoadSet(files);
    if (!loaded.ok()) {
      return Error(request, set.get(), 400, "not activated: " + loaded.status().message());
    }
    next = *loaded;
    Publish(next);
  }
  JsonWriter w = Begin(request, next.get());
  w.Key("activated").String(next->label);
  w.Key("previous").String(set ? set->label : "none");
  return Done(w);
}

// ---- metrics

ApiResponse Service::RenderMetrics() {
  ApiResponse r;
  r.content_type = "text/plain; version=0.0.4";
  std::string& out = r.body;
  metrics_.Render(&out);
  const store::StoreCounts counts = store_.counts();
  const double uptime =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started_).count();
  out += "# HELP freshet_events_total Events received on POST /v1/events, by outcome.\n"
         "# TYPE freshet_events_total counter\n";
  out += "freshet_events_total{outcome=\"accepted\"} " + std::to_string(events_accepted_.load()) + "\n";
  out += "freshet_events_total{outcome=\"duplicate\"} " + std::to_string(events_duplicate_.load()) + "\n";
  out += "freshet_events_total{outcome=\"rejected\"} " + std::to_string(events_rejected_.load()) + "\n";
  out += "# HELP freshet_store_events Events in the store.\n# TYPE freshet_store_events gauge\n";
  out += "freshet_store_events " + std::to_string(counts.events) + "\n";
  out += "# HELP freshet_store_users Users in the store's dictionary.\n"
         "# TYPE freshet_store_users gauge\nfreshet_store_users " + std::to_string(counts.users) + "\n";
  out += "# HELP freshet_store_items Items in the store's dictionary.\n"
         "# TYPE freshet_store_items gauge\nfreshet_store_items " + std::to_string(counts.items) + "\n";
  out += "# HELP freshet_store_size_bytes Approximate size of the store on disk.\n"
         "# TYPE freshet_store_size_bytes gauge\nfreshet_store_size_bytes " +
         std::to_string(store_.ApproximateSizeBytes()) + "\n";
  out += "# HELP freshet_model_info The active model set (value 1), by version and kind.\n"
         "# TYPE freshet_model_info gauge\n";
  if (std::shared_ptr<const ModelSet> set = models()) {
    for (const ModelSet::Entry& e : set->models) {
      std::string file = e.file;
      std::replace(file.begin(), file.end(), '"', '\'');
      out += "freshet_model_info{version=\"v" + std::to_string(set->version) + "\",kind=\"" +
             e.loaded.meta.kind + "\",file=\"" + file + "\"} 1\n";
    }
  }
  out += "# HELP freshet_uptime_seconds Seconds since the server started.\n"
         "# TYPE freshet_uptime_seconds gauge\nfreshet_uptime_seconds " +
         std::to_string(uptime) + "\n";
  RenderOnlineMetrics(&out);
  RenderRankMetrics(&out);
  for (const auto& source : metrics_sources_) source(&out);
  return r;
}

}  // namespace freshet::serve
