#include "serve/metrics.h"

#include <fmt/format.h>

namespace freshet::serve {

std::string_view EndpointName(Endpoint e) {
  static constexpr std::string_view kNames[kNumEndpoints] = {
      "recommend", "similar", "score",  "search",  "events",  "item",  "user",
      "models",    "models_activate",   "healthz", "readyz",  "metrics", "cart",  "other"};
  return kNames[static_cast<int>(e)];
}

void Metrics::Observe(Endpoint endpoint, int status, double seconds) {
  PerEndpoint& p = endpoints_[static_cast<int>(endpoint)];
  if (status < kMinStatus || status > kMaxStatus) status = 500;
  p.by_status[status - kMinStatus].fetch_add(1, std::memory_order_relaxed);
  size_t b = 0;
  while (b < kBuckets.size() && seconds > kBuckets[b]) ++b;
  p.buckets[b].fetch_add(1, std::memory_order_relaxed);
  p.count.fetch_add(1, std::memory_order_relaxed);
  p.sum_ns.fetch_add(static_cast<uint64_t>(seconds * 1e9), std::memory_order_relaxed);
}

uint64_t Metrics::requests(Endpoint endpoint, int status) const {
  if (status < kMinStatus || status > kMaxStatus) return 0;
  return endpoints_[static_cast<int>(endpoint)].by_status[status - kMinStatus].load(
      std::memory_order_relaxed);
}

void Metrics::Render(std::string* out) const {
  out->append(
      "# HELP freshet_http_requests_total HTTP requests answered, by endpoint and status code.\n"
      "# TYPE freshet_http_requests_total counter\n");
  for (int e = 0; e < kNumEndpoints; ++e) {
    const PerEndpoint& p = endpoints_[e];
    for (int s = kMinStatus; s <= kMaxStatus; ++s) {
      const uint64_t n = p.by_status[s - kMinStatus].load(std::memory_order_relaxed);
      if (n == 0) continue;
      fmt::format_to(std::back_inserter(*out),
                     "freshet_http_requests_total{{endpoint=\"{}\",code=\"{}\"}} {}\n",
                     EndpointName(static_cast<Endpoint>(e)), s, n);
    }
  }
  out->append(
      "# HELP freshet_http_request_duration_seconds Time from a request's last byte read to its "
      "response's handover to the socket.\n"
      "# TYPE freshet_http_request_duration_seconds histogram\n");
  for (int e = 0; e < kNumEndpoints; ++e) {
    const PerEndpoint& p = endpoints_[e];
    const uint64_t count = p.count.load(std::memory_order_relaxed);
    if (count == 0) continue;
    const std::string_view name = EndpointName(static_cast<Endpoint>(e));
    uint64_t cumulative = 0;
    for (size_t b = 0; b <= kBuckets.size(); ++b) {
      cumulative += p.buckets[b].load(std::memory_order_relaxed);
      const std::string le = b < kBuckets.size() ? fmt::format("{}", kBuckets[b]) : "+Inf";
      fmt::format_to(std::back_inserter(*out),
                     "freshet_http_request_duration_seconds_bucket{{endpoint=\"{}\",le=\"{}\"}} "
                     "{}\n",
                     name, le, cumulative);
    }
    fmt::format_to(std::back_inserter(*out),
                   "freshet_http_request_duration_seconds_sum{{endpoint=\"{}\"}} {}\n"
                   "freshet_http_request_duration_seconds_count{{endpoint=\"{}\"}} {}\n",
                   name, static_cast<double>(p.sum_ns.load(std::memory_order_relaxed)) * 1e-9,
                   name, cumulative);
  }
}

}  // namespace freshet::serve
