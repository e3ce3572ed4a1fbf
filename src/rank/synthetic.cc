#include "rank/synthetic.h"

#include <cmath>
#include <cstdio>
#include <filesystem>

#include "nn/random.h"
#include "rank/dataset.h"

namespace freshet::rank {
namespace {

constexpr int kNumeric = 13;
constexpr int kCategorical = 26;
constexpr int kLatent = 4;
constexpr double kBias = -1.6;
constexpr uint64_t kCardinalities[] = {3, 10, 30, 100, 300, 1000, 3000, 10000, 30000, 100000};

// A standard normal that depends only on (world, a, b): effects are looked up, not stored.
double NormalOf(uint64_t world, uint64_t a, uint64_t b) {
  nn::Rng rng(world ^ nn::Rng::Mix(a * 0x9e3779b97f4a7c15ULL + b), a);
  return rng.Normal();
}

struct Pair {
  int a;  // field index in [0, 39): numeric fields first, then categorical
  int b;
  double scale;
};
// Interactions: two categorical pairs, one numeric-categorical pair, one of low-cardinality fields.
constexpr Pair kPairs[] = {{13, 14, 0.9}, {15, 17, 0.8}, {0, 16, 0.7}, {22, 23, 0.8}};

class World {
 public:
  World(uint64_t seed, double signal) : seed_(seed), signal_(signal) {}

  static uint64_t Cardinality(int c) { return kCardinalities[c % 10]; }
  // Every third categorical field carries no signal.
  static bool IsNoise(int c) { return c % 3 == 2; }

  // The main effect of value `v` of field `f` (v = ~0 for missing).
  double Effect(int f, uint64_t v) const {
    if (f >= kNumeric && IsNoise(f - kNumeric)) return 0.0;
    const double scale = f < kNumeric ? 0.25 : 0.5;
    return signal_ * scale * NormalOf(seed_, static_cast<uint64_t>(f) + 1, v);
  }
  double Latent(int f, uint64_t v, int d) const {
    return NormalOf(seed_ ^ 0x5bd1e995ULL, static_cast<uint64_t>(f) * 64 + d + 1000, v);
  }

 private:
  uint64_t seed_;
  double signal_;
};

void AppendHex(std::string* out, uint64_t h) {
  static constexpr char kHex[] = "0123456789abcdef";
  char buf[8];
  for (int i = 7; i >= 0; --i) {
    buf[i] = kHex[h & 15];
    h >>= 4;
  }
  out->append(buf, 8);
}

void GenerateRows(const SyntheticCtrOptions& o, uint64_t first, uint64_t count, std::string* out,
                  std::vector<float>* probabilities) {
  const World world(o.world_seed, o.signal);
  constexpr uint64_t kMissing = ~0ULL;
  uint64_t value[kNumeric + kCategorical];  // bucket or value index per field
  for (uint64_t row = first; row < first + count; ++row) {
    nn::Rng rng(o.seed, row);
    int64_t raw[kNumeric];
    for (int f = 0; f < kNumeric; ++f) {
      if (rng.Uniform() < o.missing) {
        value[f] = kMissing;
        continue;
      }
      // Counts spread over several orders of magnitude, as Criteo's are.
      raw[f] = static_cast<int64_t>(std::floor(std::exp(rng.Uniform() * (3.0 + f % 5)))) - 1;
      value[f] = static_cast<uint64_t>(CriteoBucket(raw[f]));
    }
    for (int c = 0; c < kCategorical; ++c) {
      const int f = kNumeric + c;
      if (rng.Uniform() < o.missing) {
        value[f] = kMissing;
        continue;
      }
      const double u = rng.Uniform();
      value[f] = static_cast<uint64_t>(static_cast<double>(World::Cardinality(c)) * u * u * u);
    }
    double logit = kBias;
    for (int f = 0; f < kNumeric + kCategorical; ++f) logit += world.Effect(f, value[f]);
    for (const Pair& p : kPairs) {
      if (value[p.a] == kMissing || value[p.b] == kMissing) continue;
      double dot = 0;
      for (int d = 0; d < kLatent; ++d) {
        dot += world.Latent(p.a, value[p.a], d) * world.Latent(p.b, value[p.b], d);
      }
      logit += o.signal * p.scale * dot / std::sqrt(static_cast<double>(kLatent));
    }
    const double prob = 1.0 / (1.0 + std::exp(-logit));
    out->push_back(rng.Uniform() < prob ? '1' : '0');
    for (int f = 0; f < kNumeric; ++f) {
      out->push_back('\t');
      if (value[f] != kMissing) out->append(std::to_string(raw[f]));
    }
    for (int c = 0; c < kCategorical; ++c) {
      out->push_back('\t');
      const int f = kNumeric + c;
      if (value[f] != kMissing) {
        AppendHex(out, nn::Rng::Mix(o.world_seed * 131 + static_cast<uint64_t>(f)) ^
                           nn::Rng::Mix(value[f] + 1));
      }
    }
    out->push_back('\n');
    if (probabilities != nullptr) probabilities->push_back(static_cast<float>(prob));
  }
}

}  // namespace

void GenerateSyntheticCriteo(const SyntheticCtrOptions& options, std::string* out,
                             std::vector<float>* probabilities) {
  GenerateRows(options, 0, options.rows, out, probabilities);
}

Status WriteSyntheticCriteo(const SyntheticCtrOptions& options, const std::string& path) {
  const std::string tmp = path + ".tmp";
  FILE* f = std::fopen(tmp.c_str(), "wb");
  if (f == nullptr) return Status::IOError("cannot create " + tmp);
  std::string buf;
  constexpr uint64_t kChunk = 65536;
  bool ok = true;
  for (uint64_t first = 0; first < options.rows && ok; first += kChunk) {
    buf.clear();
    GenerateRows(options, first, std::min(kChunk, options.rows - first), &buf, nullptr);
    ok = std::fwrite(buf.data(), 1, buf.size(), f) == buf.size();
  }
  ok = std::fclose(f) == 0 && ok;
  if (!ok) {
    std::remove(tmp.c_str());
    return Status::IOError("cannot write " + tmp);
  }
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  if (ec) return Status::IOError("cannot rename " + tmp + " to " + path + ": " + ec.message());
  return Status::OK();
}

}  // namespace freshet::rank
