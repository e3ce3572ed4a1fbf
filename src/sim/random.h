#pragma once

// The simulator's random numbers: one fixed generator and hand-written distributions.
//
// Why not <random>: the engines are specified bit for bit, but std::normal_distribution and friends
// are not, so the same seed gives a different shop under libstdc++, libc++ and MSVC. Everything
// here is written out so that a seed names one shop. The integer stream and the uniforms are
// identical on every platform; the real-valued samplers additionally call log / sqrt / pow from
// libm, which IEEE 754 pins down only for sqrt, so two libms could in principle differ in a last
// bit and, very rarely, flip a comparison.

#include <cassert>
#include <cmath>
#include <cstdint>

namespace freshet::sim {

// splitmix64 (Steele, Lea, Flood): a strong 64-bit mixer, used to expand a seed into generator
// state and to derive independent streams from one seed.
inline uint64_t SplitMix64(uint64_t& state) {
  uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

// xoshiro256** (Blackman, Vigna): fast, 256 bits of state, passes BigCrush. Not for cryptography.
// Not thread-safe; each simulator owns its generators.
class Rng {
 public:
  // `stream` selects an independent sequence for the same seed (world building vs. behaviour),
  // so that adding a draw to one part of the simulator does not reshuffle the other.
  explicit Rng(uint64_t seed, uint64_t stream = 0) {
    uint64_t x = seed ^ (stream * 0xd1b54a32d192ed03ULL);
    for (uint64_t& word : s_) word = SplitMix64(x);
  }

  uint64_t NextU64() {
    const uint64_t result = Rotl(s_[1] * 5, 7) * 9;
    const uint64_t t = s_[1] << 17;
    s_[2] ^= s_[0];
    s_[3] ^= s_[1];
    s_[1] ^= s_[2];
    s_[0] ^= s_[3];
    s_[2] ^= t;
    s_[3] = Rotl(s_[3], 45);
    return result;
  }

  // Uniform in [0, 1) with 53 random bits: exact on every IEEE 754 machine.
  double Uniform() { return static_cast<double>(NextU64() >> 11) * 0x1.0p-53; }

  // Uniform integer in [0, n). REQUIRES: n > 0. Lemire's multiply-shift with rejection, so there is
  // no modulo bias even for n close to 2^64.
  uint64_t Below(uint64_t n) {
    assert(n > 0);
    unsigned __int128 m = static_cast<unsigned __int128>(NextU64()) * n;
    auto low = static_cast<uint64_t>(m);
    if (low < n) {
      const uint64_t threshold = (0 - n) % n;
      while (low < threshold) {
        m = static_cast<unsigned __int128>(NextU64()) * n;
        low = static_cast<uint64_t>(m);
      }
    }
    return static_cast<uint64_t>(m >> 64);
  }

  bool Bernoulli(double p) { return Uniform() < p; }

  // Standard normal by Marsaglia's polar method (log and sqrt only; no trigonometry).
  double Normal();
  double Normal(double mean, double sigma) { return mean + sigma * Normal(); }

  // Exponential with the given mean. REQUIRES: mean > 0.
  double Exponential(double mean) { return -mean * std::log1p(-Uniform()); }

  // exp(Normal(mu, sigma)).
  double LogNormal(double mu, double sigma) { return std::exp(Normal(mu, sigma)); }

  // Gamma(shape, 1) by Marsaglia and Tsang, with the usual U^(1/shape) boost below shape 1.
  // REQUIRES: shape > 0.
  double Gamma(double shape);

 private:
  static uint64_t Rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

  uint64_t s_[4];
  // The polar method makes two normals at a time; the second is kept for the next call.
  bool has_spare_ = false;
  double spare_ = 0.0;
};

inline double Sigmoid(double x) { return 1.0 / (1.0 + std::exp(-x)); }

}  // namespace freshet::sim
