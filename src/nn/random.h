#pragma once

// Random numbers for initialisation, dropout and negative sampling in the nn kernels.
//
// The generator is SplitMix64 (Steele, Lea, Flood, OOPSLA 2014): one 64-bit word of state, passes
// BigCrush, and cheap enough to draw a dropout mask for every activation of a batch. Streams from
// one seed are decorrelated by mixing the stream number into the state, so each data-parallel
// worker and each embedding row can have its own reproducible sequence. Not thread-safe: one Rng
// per thread.

#include <cassert>
#include <cmath>
#include <cstdint>

#include "nn/tensor.h"

namespace freshet::nn {

class Rng {
 public:
  explicit Rng(uint64_t seed, uint64_t stream = 0)
      : state_(seed ^ Mix(stream + 0x6a09e667f3bcc909ULL)) {}

  uint64_t NextU64() {
    state_ += 0x9e3779b97f4a7c15ULL;
    return Mix(state_);
  }
  uint32_t NextU32() { return static_cast<uint32_t>(NextU64() >> 32); }

  // Uniform in [0, 1).
  double Uniform() { return static_cast<double>(NextU64() >> 11) * 0x1.0p-53; }

  // Uniform integer in [0, n). REQUIRES: n > 0. Lemire's multiply-shift; the bias for n far below
  // 2^64 is under 2^-40, negligible for sampling items.
  uint64_t Below(uint64_t n) {
    assert(n > 0);
    return static_cast<uint64_t>((static_cast<unsigned __int128>(NextU64()) * n) >> 64);
  }

  // Standard normal by the Box-Muller transform (one of the pair is discarded: simpler, and
  // initialisation is not a hot path).
  double Normal() {
    const double u1 = 1.0 - Uniform();  // (0, 1]: log stays finite
    const double u2 = Uniform();
    return std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2);
  }

  // The SplitMix64 output function: a bijective 64-bit mixer.
  static uint64_t Mix(uint64_t z) {
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }

 private:
  uint64_t state_;
};

// Fills m with N(0, stddev^2).
template <typename T>
void InitNormal(Matrix<T>& m, double stddev, Rng& rng) {
  for (Eigen::Index i = 0; i < m.size(); ++i) m.data()[i] = static_cast<T>(stddev * rng.Normal());
}

// Fills m with U(-limit, limit).
template <typename T>
void InitUniform(Matrix<T>& m, double limit, Rng& rng) {
  for (Eigen::Index i = 0; i < m.size(); ++i) {
    m.data()[i] = static_cast<T>(limit * (2.0 * rng.Uniform() - 1.0));
  }
}

// Glorot / Xavier uniform for a [fan_in, fan_out] weight: keeps activation variance roughly
// constant through a stack of linear layers (Glorot & Bengio, AISTATS 2010).
template <typename T>
void InitGlorot(Matrix<T>& m, Rng& rng) {
  InitUniform(m, std::sqrt(6.0 / static_cast<double>(m.rows() + m.cols())), rng);
}

}  // namespace freshet::nn
