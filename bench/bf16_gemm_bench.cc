// The bf16 products of the CTR models' MLP (nn/bf16_gemm.h) at the shapes DeepFM trains with:
// one worker's half of a 256-sample batch (128 rows) through the 624 -> 200 and 200 -> 200
// layers. Each benchmark includes the packing its caller does per step, as rank/fieldnet.cc
// runs it:
//   Forward     PackRowsPadded(x) + Gemm(x, W)            z = x W
//   WeightGrad  PackPairs(x) + PackPairs(dz) + GemmTransA   dW = x^T dz
//   InputGrad   PackRowsPadded(dz) + Gemm(dz, W^T)         dx = dz W^T
// and Peak, a loop of independent vdpbf16ps with no memory traffic: what one core can do at
// most. The GFLOP/s counters (2 flops per multiply-add) compare with it.
//
//   build/bench/bf16_gemm_bench [--benchmark_filter=...]
//
// Needs AVX512-BF16 (Zen 4 / 5, Sapphire Rapids); elsewhere every benchmark is skipped.
// Results: docs/benchmarks.md, "DeepFM: freshet against PyTorch", second pass.

#include <benchmark/benchmark.h>

#include <cstdint>
#include <vector>

#include "nn/avx512bf16.h"
#include "nn/bf16_gemm.h"
#include "nn/bf16_kernels.h"

namespace {

namespace bf16 = freshet::nn::bf16;

constexpr int kRows = 128;

bool SkipWithoutBf16(benchmark::State& state) {
  if (bf16::Supported()) return false;
  state.SkipWithError("this CPU has no AVX512-BF16");
  return true;
}

void SetFlops(benchmark::State& state, double per_iteration) {
  state.counters["GFLOP/s"] = benchmark::Counter(per_iteration * 1e-9 * state.iterations(),
                                                 benchmark::Counter::kIsRate);
}

// Layer shapes: in x out.
void Shapes(benchmark::internal::Benchmark* b) {
  b->Args({624, 200})->Args({200, 200})->ArgNames({"in", "out"});
}

struct Layer {
  int in, out;
  std::vector<float> x, dz, z, dx;
  std::vector<uint16_t> x_rows, x_pairs, dz_rows, dz_pairs, w_pairs, wt_pairs;
  std::vector<float> dw;
  Layer(int in_, int out_) : in(in_), out(out_) {
    x.assign(static_cast<size_t>(kRows) * in, 0.5f);
    dz.assign(static_cast<size_t>(kRows) * out, 0.25f);
    z.resize(static_cast<size_t>(kRows) * out);
    dx.resize(static_cast<size_t>(kRows) * in);
    dw.resize(static_cast<size_t>(in) * out);
    std::vector<float> w(static_cast<size_t>(in) * out, 0.125f);
    x_rows.resize(bf16::RowsSize(kRows, in));
    x_pairs.resize(bf16::PairsSize(kRows, bf16::Pad16(in)));
    dz_rows.resize(bf16::RowsSize(kRows, out));
    dz_pairs.resize(bf16::PairsSize(kRows, bf16::Pad16(out)));
    w_pairs.resize(bf16::PairsSize(in, bf16::Pad16(out)));
    wt_pairs.resize(bf16::PairsSize(out, bf16::Pad16(in)));
    bf16::PackPairs(w.data(), out, in, out, bf16::Pad16(out), w_pairs.data());
    bf16::PackPairsTransposed(w.data(), out, in, out, bf16::Pad16(in), wt_pairs.data());
  }
  double flops() const { return 2.0 * kRows * in * out; }
};

void BM_Forward(benchmark::State& state) {
  if (SkipWithoutBf16(state)) return;
  Layer l(static_cast<int>(state.range(0)), static_cast<int>(state.range(1)));
  for (auto _ : state) {
    bf16::PackRowsPadded(l.x.data(), l.in, kRows, l.in, l.in, l.x_rows.data());
    bf16::Gemm(l.x_rows.data(), l.in, kRows, l.in, l.w_pairs.data(), bf16::Pad16(l.out), l.out,
               {}, l.z.data(), l.out);
    benchmark::DoNotOptimize(l.z.data());
  }
  SetFlops(state, l.flops());
}
BENCHMARK(BM_Forward)->Apply(Shapes);

void BM_WeightGrad(benchmark::State& state) {
  if (SkipWithoutBf16(state)) return;
  Layer l(static_cast<int>(state.range(0)), static_cast<int>(state.range(1)));
  for (auto _ : state) {
    bf16::PackPairs(l.x.data(), l.in, kRows, l.in, bf16::Pad16(l.in), l.x_pairs.data());
    bf16::PackPairs(l.dz.data(), l.out, kRows, l.out, bf16::Pad16(l.out), l.dz_pairs.data());
    bf16::GemmTransA(l.x_pairs.data(), bf16::Pad16(l.in), kRows, l.in, l.dz_pairs.data(),
                     bf16::Pad16(l.out), l.out, l.dw.data(), l.out);
    benchmark::DoNotOptimize(l.dw.data());
  }
  SetFlops(state, l.flops());
}
BENCHMARK(BM_WeightGrad)->Apply(Shapes);

void BM_InputGrad(benchmark::State& state) {
  if (SkipWithoutBf16(state)) return;
  Layer l(static_cast<int>(state.range(0)), static_cast<int>(state.range(1)));
  for (auto _ : state) {
    bf16::PackRowsPadded(l.dz.data(), l.out, kRows, l.out, l.out, l.dz_rows.data());
    bf16::Gemm(l.dz_rows.data(), l.out, kRows, l.out, l.wt_pairs.data(), bf16::Pad16(l.in), l.in,
               {}, l.dx.data(), l.in);
    benchmark::DoNotOptimize(l.dx.data());
  }
  SetFlops(state, l.flops());
}
BENCHMARK(BM_InputGrad)->Apply(Shapes);

// 16 independent accumulators (more than vdpbf16ps's latency times its throughput), 32
// multiply-adds each per instruction, operands in registers.
constexpr int kPeakChains = 16;
constexpr int64_t kPeakSteps = 1 << 16;

FRESHET_AVX512BF16 float PeakLoop() {
  __m512 acc[kPeakChains];
  for (__m512& a : acc) a = _mm512_setzero_ps();
  __m512bh x = reinterpret_cast<__m512bh>(_mm512_set1_epi32(0x3f803f80));  // (1, 1)
  const __m512bh y = x;
  for (int64_t i = 0; i < kPeakSteps; ++i) {
#pragma GCC unroll 16
    for (__m512& a : acc) a = _mm512_dpbf16_ps(a, x, y);
    asm volatile("" : "+v"(x));  // keeps the loop from being folded
  }
  __m512 sum = acc[0];
  for (int c = 1; c < kPeakChains; ++c) sum = _mm512_add_ps(sum, acc[c]);
  return _mm512_cvtss_f32(sum);
}

void BM_Peak(benchmark::State& state) {
  if (SkipWithoutBf16(state)) return;
  for (auto _ : state) benchmark::DoNotOptimize(PeakLoop());
  SetFlops(state, 2.0 * 32 * kPeakChains * static_cast<double>(kPeakSteps));
}
BENCHMARK(BM_Peak);

}  // namespace

BENCHMARK_MAIN();
