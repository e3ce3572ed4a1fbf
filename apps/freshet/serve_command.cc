#include "serve_command.h"

#include <CLI/CLI.hpp>
#include <fmt/core.h>
#include <pthread.h>
#include <signal.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <thread>

#include "http/server.h"
#include "serve/service.h"
#include "store/event_store.h"
#include "stream/redis_stream_source.h"

namespace freshet::app {
namespace {

int Fail(const Status& status) {
  fmt::print(stderr, "freshet serve: error: {}\n", status.ToString());
  return 1;
}

Result<serve::ApiKeys> LoadKeys(const ServeFlags& f) {
  serve::ApiKeys keys;
  if (!f.api_keys_file.empty()) {
    std::ifstream in(f.api_keys_file);
    if (!in) return Status::NotFound("--api-keys " + f.api_keys_file + ": cannot read the file");
    std::stringstream text;
    text << in.rdbuf();
    FRESHET_RETURN_IF_ERROR(keys.AddFileText(text.str(), f.api_keys_file));
  }
  if (const char* env = std::getenv("FRESHET_API_KEYS"); env != nullptr && *env != '\0') {
    FRESHET_RETURN_IF_ERROR(keys.AddList(env, "FRESHET_API_KEYS"));
  }
  return keys;
}

}  // namespace

void AddServeStreamFlags(CLI::App* serve, ServeFlags* flags) {
  serve->add_option("--redis", flags->redis_url,
                    "consume live events from Redis Streams at this URL "
                    "(redis://[[user]:password@]host[:port][/db]); needs --stream");
  serve->add_option("--stream", flags->redis_stream, "the Redis stream key to consume (--redis)");
  serve->add_option("--group", flags->redis_group, "the Redis consumer group (created if missing)")
      ->capture_default_str();
  serve->add_option("--consumer", flags->redis_consumer,
                    "this server's consumer name in the group (default: <hostname>-<pid>; a "
                    "stable name re-reads its own pending entries at once after a restart)");
  serve->add_option("--redis-claim-idle-ms", flags->redis_claim_idle_ms,
                    "take over entries other consumers left pending this long (XAUTOCLAIM)")
      ->capture_default_str();
}

int RunServe(const ServeFlags& f) {
  if (f.port < 0 || f.port > 65535) {
    return Fail(Status::InvalidArgument("--port must be 0 to 65535"));
  }
  if (f.redis_url.empty() && !f.redis_stream.empty()) {
    return Fail(Status::InvalidArgument("--stream needs --redis URL (the Redis to read it from)"));
  }
  if (!f.redis_url.empty()) {
    if (f.redis_stream.empty()) {
      return Fail(Status::InvalidArgument("--redis needs --stream NAME (the stream to consume)"));
    }
    if (auto url = stream::ParseRedisUrl(f.redis_url); !url.ok()) {
      return Fail(url.status().WithContext("--redis"));
    }
  }
  auto keys = LoadKeys(f);
  if (!keys.ok()) return Fail(keys.status());
  if (keys->size() == 0 && !f.insecure_no_auth) {
    return Fail(Status::InvalidArgument(
        "no API keys: give --api-keys FILE (lines 'ROLE KEY', ROLE read|write|admin) or "
        "FRESHET_API_KEYS='admin:KEY,...', or --insecure-no-auth to serve without "
        "authentication (loopback testing only)"));
  }
  // Block the shutdown signals in every thread; one thread waits for them below.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  store::StoreOptions so;
  so.must_exist = true;
  auto durability = store::ParseDurability(f.durability);
  if (!durability.ok()) return Fail(durability.status());
  so.durability = *durability;
  auto store = store::EventStore::Open(so, f.data);
  if (!store.ok()) return Fail(store.status());

  serve::ServiceOptions options;
  options.max_k = f.max_k;
  options.index.kind = f.index;
  options.index.exact_below = f.exact_below;
  options.index.hnsw.ef_search = f.hnsw_ef;
  options.index.hnsw.M = f.hnsw_m;
  options.insecure_no_auth = f.insecure_no_auth;
  options.online.enabled = !f.no_online_learning;
  options.online.batch = std::max<size_t>(1, f.online_batch);
  options.online.publish_ms = std::max(1, f.online_publish_ms);
  options.online.admit_after = std::max<uint32_t>(1, f.online_admit_after);
  options.online.expire_days = f.online_expire_days;
  options.online.learning_rate = f.online_learning_rate;
  options.online.snapshot_dir =
      f.snapshot_dir.empty() ? (std::filesystem::path(f.data) / "snapshots").string() : f.snapshot_dir;
  options.online.snapshot_interval_s = std::max(1, f.snapshot_interval_s);
  if (!f.quiet) fmt::print(stderr, "freshet serve: loading state from {}\n", f.data);
  auto service =
      serve::Service::Open(**store, std::move(*keys), options, f.model_files, f.rank_files);
  if (!service.ok()) return Fail(service.status());
  if ((*service)->restored_from_seq() > 0 && !f.quiet) {
    fmt::print(stderr,
               "freshet serve: learned models restored from the snapshot at event {}; "
               "re-learning the events after it\n",
               (*service)->restored_from_seq());
  }
  if ((*service)->rank_restored_from_seq() > 0 && !f.quiet) {
    fmt::print(stderr,
               "freshet serve: the ranker learned online restored from its snapshot at event {}; "
               "re-learning the labels decided after it\n",
               (*service)->rank_restored_from_seq());
  }

  // Live events from Redis: into the same Ingest path as POST /v1/events, acknowledged in Redis
  // only once durable in the store.
  std::unique_ptr<stream::RedisStreamSource> redis;
  if (!f.redis_url.empty()) {
    stream::RedisStreamOptions ro;
    ro.url = f.redis_url;
    ro.stream = f.redis_stream;
    ro.group = f.redis_group;
    ro.consumer = f.redis_consumer;
    ro.claim_idle_ms = f.redis_claim_idle_ms;
    serve::Service* target = service->get();
    auto source = stream::RedisStreamSource::Create(
        ro, [target](std::span<const Event> events, std::span<const std::string> keys,
                     store::AppendStats* stats) { return target->Ingest(events, keys, stats); });
    if (!source.ok()) return Fail(source.status().WithContext("--redis"));
    redis = std::move(*source);
    stream::RedisStreamSource* r = redis.get();
    target->AddMetricsSource([r](std::string* out) { r->RenderMetrics(out); });
    if (Status s = redis->Start(); !s.ok()) return Fail(s.WithContext("--redis"));
  }

  http::ServerOptions ho;
  ho.bind = f.bind;
  ho.port = static_cast<uint16_t>(f.port);
  ho.threads = f.threads;
  ho.body_limit = f.body_limit_mb << 20;
  ho.read_timeout = std::chrono::seconds(f.read_timeout_s);
  serve::Service* svc = service->get();
  auto server = http::Server::Start(ho, [svc](const serve::ApiRequest& r) { return svc->Handle(r); });
  if (!server.ok()) return Fail(server.status());
  const uint16_t port = (*server)->port();
  if (f.insecure_no_auth) {
    fmt::print(stderr,
               "freshet serve: WARNING: --insecure-no-auth: every request is allowed, events and "
               "model changes included; do not expose this port\n");
  }
  auto set = svc->models();
  std::string retrieval;
  for (size_t i = 0; set && i < set->models.size(); ++i) {
    const serve::ModelSet::Entry& e = set->models[i];
    retrieval += (retrieval.empty() ? "" : ", ") + e.loaded.meta.kind + " " +
                 (e.index ? std::string(e.index->kind()) + " index" : std::string("catalog scan"));
  }
  auto rank = svc->ranker();
  fmt::print(stderr,
             "freshet serve: listening on http://{}:{} (models: {}; retrieval: {}; ranker: {})\n",
             f.bind, port, set ? set->label : "none, popularity only",
             retrieval.empty() ? "popularity" : retrieval, rank ? rank->label : "none");
  if (!f.port_file.empty()) {
    std::ofstream out(f.port_file + ".tmp");
    out << port << "\n";
    out.close();
    std::rename((f.port_file + ".tmp").c_str(), f.port_file.c_str());
  }
  int sig = 0;
  sigwait(&signals, &sig);
  fmt::print(stderr, "freshet serve: {} received, finishing requests in flight\n",
             sig == SIGTERM ? "SIGTERM" : "SIGINT");
  svc->SetDraining();
  // No new events from Redis; what the source was writing is stored and acknowledged first.
  if (redis) redis->Stop();
  (*server)->Shutdown();
  (*server)->Wait();
  if (Status s = svc->Flush(); !s.ok()) return Fail(s);
  // What was learned since the last snapshot is kept for the next start.
  if (Status s = svc->LearnNow(); !s.ok()) return Fail(s);
  if (Status s = svc->Snapshot(); !s.ok()) return Fail(s);
  fmt::print(stderr, "freshet serve: stopped\n");
  return 0;
}

}  // namespace freshet::app
