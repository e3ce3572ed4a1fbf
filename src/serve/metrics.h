#pragma once

// Request counters and latency histograms per endpoint, rendered in the Prometheus text format
// (https://prometheus.io/docs/instrumenting/exposition_formats/). Lock-free: every request
// updates a few relaxed atomics.

#include <array>
#include <atomic>
#include <cstdint>
#include <string>
#include <string_view>

namespace freshet::serve {

enum class Endpoint {
  kRecommend, kSimilar, kScore, kSearch, kEvents, kItem, kUser, kModels, kActivate, kHealth,
  kReady, kMetrics, kCart, kOther,  // kOther: no route matched
};
inline constexpr int kNumEndpoints = 14;
std::string_view EndpointName(Endpoint e);

class Metrics {
 public:
  // Upper bounds of the latency buckets, seconds (the last bucket is +Inf).
  static constexpr std::array<double, 14> kBuckets = {
      0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5};

  // Counts one finished request. status is the HTTP status code. Thread-safe.
  void Observe(Endpoint endpoint, int status, double seconds);
  // Appends freshet_http_requests_total and freshet_http_request_duration_seconds. Thread-safe.
  void Render(std::string* out) const;
  uint64_t requests(Endpoint endpoint, int status) const;

 private:
  static constexpr int kMinStatus = 100, kMaxStatus = 599;
  struct PerEndpoint {
    std::array<std::atomic<uint64_t>, kMaxStatus - kMinStatus + 1> by_status{};
    std::array<std::atomic<uint64_t>, kBuckets.size() + 1> buckets{};
    std::atomic<uint64_t> count{0};
    std::atomic<uint64_t> sum_ns{0};
  };
  std::array<PerEndpoint, kNumEndpoints> endpoints_;
};

}  // namespace freshet::serve
