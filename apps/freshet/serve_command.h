#pragma once

// `freshet serve`: flags -> store, service, HTTP server; runs until SIGTERM / SIGINT.

#include <cstdint>
#include <string>
#include <vector>

namespace CLI {
class App;
}  // namespace CLI

namespace freshet::app {

struct ServeFlags {
  std::string data = "./freshet-data";
  std::vector<std::string> model_files;  // the first is primary
  // Shop ranking models (freshet train --task click|cart|buy), at most one per target: the
  // second stage of recommend, the probabilities of score, the cart endpoint.
  std::vector<std::string> rank_files;
  std::string bind = "127.0.0.1";
  int port = 8080;
  int threads = 0;
  std::string api_keys_file;  // "ROLE KEY" lines; FRESHET_API_KEYS adds more
  bool insecure_no_auth = false;
  std::string durability = "batch";
  size_t max_k = 500;
  std::string index = "auto";  // auto | exact | hnsw
  size_t exact_below = 20000;
  size_t hnsw_ef = 64;
  size_t hnsw_m = 16;
  size_t body_limit_mb = 8;
  int read_timeout_s = 30;
  std::string port_file;  // write the bound port here once listening (tests, scripts)
  bool quiet = false;
  // Online learning (serve::OnlineServeOptions): on unless --no-online-learning.
  bool no_online_learning = false;
  size_t online_batch = 1024;
  int online_publish_ms = 1000;
  uint32_t online_admit_after = 1;
  double online_expire_days = 0;
  double online_learning_rate = 0;
  std::string snapshot_dir;  // default DATA/snapshots
  int snapshot_interval_s = 300;
  // Live events from a Redis stream through a consumer group (src/stream); off when redis_url is
  // empty. redis_stream is required with redis_url.
  std::string redis_url;
  std::string redis_stream;
  std::string redis_group = "freshet";
  std::string redis_consumer;  // empty: <hostname>-<pid>
  int64_t redis_claim_idle_ms = 30000;
};

// Registers --redis, --stream, --group, --consumer and --redis-claim-idle-ms on the serve
// subcommand.
void AddServeStreamFlags(CLI::App* serve, ServeFlags* flags);

// Exit codes as main: 0 after a clean shutdown, 1 when the server cannot start.
int RunServe(const ServeFlags& flags);

}  // namespace freshet::app
