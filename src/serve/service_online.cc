// Online learning while serving: the learner thread behind Service::Ingest.
//
// Ingest queues one example per accepted interaction (the user's history before it). The
// learner thread takes up to `batch` of them at a time and runs one Learn step on private
// copies of the served models (model::Recommender::Learn), then every `publish_ms` publishes
// copies of the copies (Clone) as a new model set of the same lineage. Serving threads only ever
// read published sets, which never change: there is no shared mutable weight, so no data race.

#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>

#include "serve/service.h"

namespace freshet::serve {
namespace {

using Clock = std::chrono::steady_clock;
constexpr size_t kLagRing = 4096;  // recent lags kept for the quantiles in /metrics

// Identifies a model file's contents cheaply: its size and modification time. A snapshot learned
// from a file that has since been replaced (retrained to the same path) is not used.
std::string FileStamp(const std::string& path) {
  std::error_code ec;
  const auto size = std::filesystem::file_size(path, ec);
  if (ec) return "missing";
  const auto mtime = std::filesystem::last_write_time(path, ec);
  if (ec) return "missing";
  return std::to_string(size) + "@" +
         std::to_string(mtime.time_since_epoch().count());
}

double Quantile(std::vector<double> v, double q) {
  if (v.empty()) return 0;
  const size_t k = std::min(v.size() - 1, static_cast<size_t>(q * static_cast<double>(v.size())));
  std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(k), v.end());
  return v[k];
}

void RecordLag(std::vector<double>& ring, size_t& next, double seconds) {
  if (ring.size() < kLagRing) {
    ring.push_back(seconds);
  } else {
    ring[next] = seconds;
    next = (next + 1) % kLagRing;
  }
}

}  // namespace

void Service::StartLearner() {
  last_publish_ = Clock::now();
  learner_ = std::thread([this] { LearnerLoop(); });
}

void Service::StopLearner() {
  {
    std::lock_guard lock(learn_mu_);
    learn_stop_ = true;
  }
  learn_cv_.notify_all();
  if (learner_.joinable()) learner_.join();
}

void Service::LearnerLoop() {
  // Requests and event ingestion come first: the learner yields the CPU to them (its lag is
  // bounded by dropping the oldest events; a request's latency has no such valve).
  setpriority(PRIO_PROCESS, static_cast<id_t>(syscall(SYS_gettid)), 10);
  const auto interval = std::chrono::milliseconds(std::max(1, options_.online.interval_ms));
  for (;;) {
    {
      std::unique_lock lock(learn_mu_);
      // Wait for a full batch, or for the interval once anything is queued.
      learn_cv_.wait_for(lock, interval, [&] {
        return learn_stop_ || learn_queue_.size() >= options_.online.batch;
      });
      if (learn_stop_) return;
    }
    std::lock_guard step(learn_step_mu_);
    if (Status s = LearnStep(/*publish=*/false); !s.ok()) {
      online_.errors.fetch_add(1, std::memory_order_relaxed);
      std::fprintf(stderr, "freshet serve: online learning step failed: %s\n",
                   s.ToString().c_str());
    }
  }
}

Status Service::LearnNow() {
  if (!options_.online.enabled) return Status::OK();
  std::lock_guard step(learn_step_mu_);
  for (;;) {
    {
      std::lock_guard lock(learn_mu_);
      if (learn_queue_.empty()) break;
    }
    FRESHET_RETURN_IF_ERROR(LearnStep(/*publish=*/false));
  }
  return LearnStep(/*publish=*/true);
}

Status Service::LearnStep(bool publish) {
  const OnlineServeOptions& o = options_.online;
  RankLearnStep(publish);  // the shop ranker's joined labels (service_rank.cc)
  // A new activation (or rollback) replaces what the learners copy.
  std::shared_ptr<const ModelSet> current = models();
  if (current != learning_from_ &&
      (!current || !learning_from_ || current->lineage != learning_from_->lineage)) {
    learners_.clear();
    if (current) {
      for (const ModelSet::Entry& e : current->models) learners_.push_back(e.loaded.model->Clone());
    }
    steps_since_publish_ = 0;
  }
  learning_from_ = current;

  std::vector<PendingExample> taken;
  {
    std::lock_guard lock(learn_mu_);
    const size_t n = std::min(o.batch, learn_queue_.size());
    for (size_t i = 0; i < n; ++i) {
      taken.push_back(std::move(learn_queue_.front()));
      learn_queue_.pop_front();
    }
  }
  for (const PendingExample& ex : taken) learned_through_seq_ = std::max(learned_through_seq_, ex.seq);
  const uint32_t num_items = store_.counts().items;
  if (!taken.empty() && !learners_.empty()) {
    const model::Recommender* primary = learners_.front().get();
    if (admission_counts_.size() < num_items) admission_counts_.resize(num_items, 0);
    if (last_seen_ms_.size() < num_items) last_seen_ms_.resize(num_items, 0);
    std::vector<model::OnlineExample> batch;
    for (const PendingExample& ex : taken) {
      // Admission: an item the primary model has no row for waits for admit_after interactions.
      if (primary != nullptr && !primary->item_active(ex.item)) {
        if (++admission_counts_[ex.item] < o.admit_after) {
          online_.waiting_admission.fetch_add(1, std::memory_order_relaxed);
          continue;
        }
      }
      last_seen_ms_[ex.item] = std::max(last_seen_ms_[ex.item], ex.ts_ms);
      online_clock_ms_ = std::max(online_clock_ms_, ex.ts_ms);
      batch.push_back({ex.user, ex.item, ex.history, ex.ts_ms});
    }
    if (!batch.empty()) {
      model::OnlineOptions lo;
      lo.learning_rate = o.learning_rate;
      lo.seed = o.seed + online_.steps.load(std::memory_order_relaxed);
      for (auto& learner : learners_) {
        if (!learner) continue;
        const Status s = learner->Learn(batch, std::max(num_items, learner->num_items()), lo);
        if (!s.ok() && s.code() != Status::Code::kUnimplemented) return s;
      }
      online_.steps.fetch_add(1, std::memory_order_relaxed);
      online_.learned.fetch_add(batch.size(), std::memory_order_relaxed);
      ++steps_since_publish_;
    }
    // Expiry: items learned online and unseen for expire_days of event time.
    if (o.expire_days > 0) {
      const int64_t horizon = online_clock_ms_ - static_cast<int64_t>(o.expire_days * 86400000.0);
      std::vector<ItemId> expired;
      for (ItemId i = 0; i < last_seen_ms_.size(); ++i) {
        if (last_seen_ms_[i] > 0 && last_seen_ms_[i] < horizon) {
          expired.push_back(i);
          last_seen_ms_[i] = 0;
          if (i < admission_counts_.size()) admission_counts_[i] = 0;
        }
      }
      if (!expired.empty()) {
        for (auto& learner : learners_) {
          if (learner) learner->Forget(expired);
        }
        online_.forgotten.fetch_add(expired.size(), std::memory_order_relaxed);
        ++steps_since_publish_;
      }
    }
    const auto now = Clock::now();
    std::lock_guard lock(lag_mu_);
    for (const PendingExample& ex : taken) {
      RecordLag(step_lag_s_, step_lag_next_,
                std::chrono::duration<double>(now - ex.accepted).count());
      unpublished_.push_back(ex.accepted);
    }
    if (unpublished_.size() > 16 * kLagRing) {  // publishing stalled: keep the newest
      unpublished_.erase(unpublished_.begin(), unpublished_.end() - kLagRing);
    }
  }
  const bool due = Clock::now() - last_publish_ >= std::chrono::milliseconds(o.publish_ms);
  if (steps_since_publish_ > 0 && (publish || due)) FRESHET_RETURN_IF_ERROR(PublishLearned());
  if (!o.snapshot_dir.empty() &&
      Clock::now() - last_snapshot_ >= std::chrono::seconds(o.snapshot_interval_s)) {
    return WriteSnapshot();
  }
  return Status::OK();
}

Status Service::PublishLearned() {
  std::shared_ptr<const ModelSet> base = learning_from_;
  if (!base) return Status::OK();
  auto set = std::make_shared<ModelSet>();
  for (size_t m = 0; m < base->models.size(); ++m) {
    const ModelSet::Entry& old = base->models[m];
    ModelSet::Entry e;
    e.file = old.file;
    e.loaded.meta = old.loaded.meta;
    std::unique_ptr<model::Recommender> copy =
        m < learners_.size() && learners_[m] ? learners_[m]->Clone() : nullptr;
    if (!copy) copy = old.loaded.model->Clone();
    if (!copy) return Status::Internal("model " + old.loaded.meta.kind + " cannot be copied");
    e.loaded.meta.num_items = copy->num_items();
    e.loaded.model = std::move(copy);
    e.index = old.index;  // shared; new items are added below
    FRESHET_RETURN_IF_ERROR(PrepareEntry(e));
    if (e.index) {
      // Items that became active since the previous copy enter the index.
      const int dim = e.loaded.model->vector_dim();
      const model::Recommender& before = *old.loaded.model;
      for (ItemId i = 0; i < e.loaded.model->num_items(); ++i) {
        if (!e.loaded.model->item_active(i) || (i < before.num_items() && before.item_active(i))) {
          continue;
        }
        FRESHET_RETURN_IF_ERROR(e.index->Add(
            i, {e.item_vectors.data() + static_cast<size_t>(i) * dim, static_cast<size_t>(dim)}));
      }
    }
    set->models.push_back(std::move(e));
  }
  set->version = next_version_.fetch_add(1);
  set->lineage = base->lineage;
  set->online_steps = base->online_steps + steps_since_publish_;
  // "v9 sasrec:beauty.fmdl (+412 online steps)": the loaded files and how far they learned.
  const size_t space = base->label.find(' ');
  set->label = "v" + std::to_string(set->version) +
               (space == std::string::npos ? std::string()
                                           : base->label.substr(space, base->label.find(" (+") - space)) +
               " (+" + std::to_string(set->online_steps) + " online steps)";
  std::shared_ptr<const ModelSet> published = set;
  {
    std::lock_guard lock(mu_);
    // An activation since the learners copied their base wins: drop this copy.
    if (!current_ || current_->lineage != published->lineage) {
      learning_from_ = nullptr;
      return Status::OK();
    }
    current_ = published;
  }
  learning_from_ = published;
  published_through_seq_ = learned_through_seq_;
  steps_since_publish_ = 0;
  last_publish_ = Clock::now();
  online_.publishes.fetch_add(1, std::memory_order_relaxed);
  std::lock_guard lock(lag_mu_);
  const auto now = Clock::now();
  for (const auto& t : unpublished_) {
    RecordLag(publish_lag_s_, publish_lag_next_, std::chrono::duration<double>(now - t).count());
  }
  unpublished_.clear();
  return Status::OK();
}

// ---- snapshots
//
// <snapshot_dir>/snap-<seq>/ holds one model file per served model and a manifest:
//   freshet-snapshot 1
//   seq <the store sequence number the models learned through>
//   model <source model file> <file in this directory> <source size@mtime when learned from>
// LATEST names the newest complete snapshot; it is replaced atomically after the directory is.
// The shop ranker's snapshots live the same way under <snapshot_dir>/rank/, with "rank" lines
// and the sequence number of the last event that decided a label in the weights.

namespace {

namespace fs = std::filesystem;

// Writes root/name/ as a snapshot: `fill` saves the model files into the directory it is given
// and appends their manifest lines; then the manifest, the rename into place, LATEST, and all but
// the newest two snapshots removed.
Status WriteSnapshotDir(const fs::path& root, uint64_t seq,
                        const std::function<Status(const fs::path&, std::string*)>& fill) {
  const std::string name = "snap-" + std::to_string(seq);
  const fs::path tmp = root / (name + ".tmp");
  std::error_code ec;
  fs::remove_all(tmp, ec);
  fs::create_directories(tmp, ec);
  if (ec) return Status::IOError("snapshot directory '" + tmp.string() + "': " + ec.message());
  std::string manifest = "freshet-snapshot 1\nseq " + std::to_string(seq) + "\n";
  FRESHET_RETURN_IF_ERROR(fill(tmp, &manifest));
  {
    std::ofstream out(tmp / "manifest");
    out << manifest;
    if (!out.flush()) return Status::IOError("cannot write " + (tmp / "manifest").string());
  }
  const fs::path final_dir = root / name;
  fs::remove_all(final_dir, ec);
  fs::rename(tmp, final_dir, ec);
  if (ec) return Status::IOError("snapshot rename to '" + final_dir.string() + "': " + ec.message());
  {
    std::ofstream out(root / "LATEST.tmp");
    out << name << "\n";
    if (!out.flush()) return Status::IOError("cannot write " + (root / "LATEST.tmp").string());
  }
  fs::rename(root / "LATEST.tmp", root / "LATEST", ec);
  if (ec) return Status::IOError("cannot replace " + (root / "LATEST").string() + ": " + ec.message());
  // Keep this one and the one before it.
  std::vector<std::pair<uint64_t, fs::path>> old;
  for (const auto& d : fs::directory_iterator(root, ec)) {
    const std::string n = d.path().filename().string();
    if (n.rfind("snap-", 0) != 0 || n.find(".tmp") != std::string::npos) continue;
    old.emplace_back(std::strtoull(n.c_str() + 5, nullptr, 10), d.path());
  }
  std::sort(old.begin(), old.end());
  for (size_t i = 0; i + 2 < old.size(); ++i) fs::remove_all(old[i].second, ec);
  return Status::OK();
}

// The newest snapshot under `root` whose `key` lines name exactly `sources`, unchanged since:
// its files (in the order of `sources`) and sequence number. nullopt, with a line on stderr when
// one exists but does not fit, otherwise.
std::optional<std::pair<std::vector<std::string>, uint64_t>> FindSnapshotIn(
    const fs::path& root, std::string_view key_word, const std::vector<std::string>& sources,
    uint64_t store_events) {
  std::ifstream latest(root / "LATEST");
  std::string name;
  if (!(latest >> name)) return std::nullopt;
  std::ifstream in(root / name / "manifest");
  std::string magic, version, key;
  uint64_t seq = 0;
  if (!(in >> magic >> version) || magic != "freshet-snapshot" || version != "1" ||
      !(in >> key >> seq) || key != "seq") {
    std::fprintf(stderr, "freshet serve: ignoring snapshot %s: unreadable manifest\n",
                 (root / name).c_str());
    return std::nullopt;
  }
  std::vector<std::string> files;
  std::string source, file, stamp;
  while (in >> key >> source >> file >> stamp) {
    if (key != key_word || files.size() >= sources.size() || source != sources[files.size()] ||
        stamp != FileStamp(source)) {
      std::fprintf(stderr,
                   "freshet serve: snapshot %s was learned from other model files (or they "
                   "changed since); starting from the given ones\n",
                   (root / name).c_str());
      return std::nullopt;
    }
    files.push_back((root / name / file).string());
  }
  if (files.size() != sources.size() || seq > store_events) return std::nullopt;
  return std::make_pair(files, seq);
}

}  // namespace

Status Service::Snapshot() {
  if (!options_.online.enabled || options_.online.snapshot_dir.empty()) return Status::OK();
  std::lock_guard step(learn_step_mu_);
  return WriteSnapshot();
}

Status Service::WriteSnapshot() {
  last_snapshot_ = Clock::now();
  FRESHET_RETURN_IF_ERROR(WriteRankSnapshot());
  std::shared_ptr<const ModelSet> set = models();
  if (!set || set->lineage != (learning_from_ ? learning_from_->lineage : 0) ||
      published_through_seq_ <= snapshot_seq_) {
    return Status::OK();  // nothing learned since the last one, or an activation in between
  }
  FRESHET_RETURN_IF_ERROR(WriteSnapshotDir(
      options_.online.snapshot_dir, published_through_seq_,
      [&](const fs::path& dir, std::string* manifest) {
        for (size_t i = 0; i < set->models.size(); ++i) {
          const ModelSet::Entry& e = set->models[i];
          model::ModelMeta meta = e.loaded.meta;
          meta.num_items = e.loaded.model->num_items();
          meta.item_fingerprint = model::ItemFingerprint(store_, meta.num_items);
          const std::string file = std::to_string(i) + "-" + meta.kind + ".fmdl";
          FRESHET_RETURN_IF_ERROR(model::SaveModel(*e.loaded.model, meta, (dir / file).string()));
          *manifest += "model " + e.file + " " + file + " " + FileStamp(e.file) + "\n";
        }
        return Status::OK();
      }));
  snapshot_seq_ = published_through_seq_;
  return Status::OK();
}

Status Service::WriteRankSnapshot() {
  std::shared_ptr<const RankSet> set = ranker();
  if (!set || set == rank_snapshotted_ || set->through_seq == 0) return Status::OK();
  FRESHET_RETURN_IF_ERROR(WriteSnapshotDir(
      fs::path(options_.online.snapshot_dir) / "rank", set->through_seq,
      [&](const fs::path& dir, std::string* manifest) {
        // Each --rank file's model under its target's name, in the order of the files.
        for (const std::string& source : set->sources) {
          for (rank::ShopTarget t : {rank::ShopTarget::kClick, rank::ShopTarget::kCart,
                                     rank::ShopTarget::kBuy}) {
            if (set->source_of[static_cast<int>(t)] != source) continue;
            const std::string file = std::string(rank::ShopTargetName(t)) + ".fmdl";
            FRESHET_RETURN_IF_ERROR(set->ranker->Save(t, (dir / file).string()));
            *manifest += "rank " + source + " " + file + " " + FileStamp(source) + "\n";
          }
        }
        return Status::OK();
      }));
  rank_snapshotted_ = set;
  return Status::OK();
}

std::optional<std::pair<std::vector<std::string>, uint64_t>> Service::FindSnapshot(
    const std::vector<std::string>& model_files) const {
  if (options_.online.snapshot_dir.empty()) return std::nullopt;
  return FindSnapshotIn(options_.online.snapshot_dir, "model", model_files,
                        store_.counts().events);
}

std::optional<std::pair<std::vector<std::string>, uint64_t>> Service::FindRankSnapshot(
    const std::vector<std::string>& files) const {
  if (options_.online.snapshot_dir.empty()) return std::nullopt;
  return FindSnapshotIn(fs::path(options_.online.snapshot_dir) / "rank", "rank", files,
                        store_.counts().events);
}

void Service::RenderOnlineMetrics(std::string* out) const {
  if (!options_.online.enabled) return;
  size_t queued = 0;
  {
    std::lock_guard lock(learn_mu_);
    queued = learn_queue_.size();
  }
  auto counter = [&](const char* outcome, uint64_t v) {
    *out += "freshet_online_examples_total{outcome=\"" + std::string(outcome) + "\"} " +
            std::to_string(v) + "\n";
  };
  *out += "# HELP freshet_online_examples_total Interactions offered to online learning, by "
          "outcome (learned; dropped: the queue was full; waiting_admission: the item is not yet "
          "admitted).\n# TYPE freshet_online_examples_total counter\n";
  counter("learned", online_.learned.load());
  counter("dropped", online_.dropped.load());
  counter("waiting_admission", online_.waiting_admission.load());
  *out += "# HELP freshet_online_queue Interactions waiting for a learning step.\n"
          "# TYPE freshet_online_queue gauge\nfreshet_online_queue " +
          std::to_string(queued) + "\n";
  *out += "# HELP freshet_online_steps_total Online learning steps.\n"
          "# TYPE freshet_online_steps_total counter\nfreshet_online_steps_total " +
          std::to_string(online_.steps.load()) + "\n";
  *out += "# HELP freshet_online_publishes_total Learned model copies published to serving.\n"
          "# TYPE freshet_online_publishes_total counter\nfreshet_online_publishes_total " +
          std::to_string(online_.publishes.load()) + "\n";
  *out += "# HELP freshet_online_forgotten_total Items expired from the models.\n"
          "# TYPE freshet_online_forgotten_total counter\nfreshet_online_forgotten_total " +
          std::to_string(online_.forgotten.load()) + "\n";
  *out += "# HELP freshet_online_errors_total Failed online learning steps.\n"
          "# TYPE freshet_online_errors_total counter\nfreshet_online_errors_total " +
          std::to_string(online_.errors.load()) + "\n";
  std::vector<double> step, publish;
  {
    std::lock_guard lock(lag_mu_);
    step = step_lag_s_;
    publish = publish_lag_s_;
  }
  *out += "# HELP freshet_online_lag_seconds Time from an event's acceptance to the learning "
          "step that included it (stage=\"step\") and to the published model that holds it "
          "(stage=\"publish\"), over the last 4096 events.\n"
          "# TYPE freshet_online_lag_seconds summary\n";
  for (const auto& [stage, v] : {std::pair<const char*, const std::vector<double>*>{"step", &step},
                                 {"publish", &publish}}) {
    for (double q : {0.5, 0.99}) {
      char line[160];
      std::snprintf(line, sizeof line,
                    "freshet_online_lag_seconds{stage=\"%s\",quantile=\"%g\"} %.6f\n", stage, q,
                    Quantile(*v, q));
      *out += line;
    }
    *out += "freshet_online_lag_seconds_count{stage=\"" + std::string(stage) + "\"} " +
            std::to_string(v->size()) + "\n";
  }
}

}  // namespace freshet::serve
