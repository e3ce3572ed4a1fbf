#pragma once

// Compact read-only embedding rows for serving (issue 6): a float table converted to IEEE half
// precision (fp16) or to int8 with one float scale per row (symmetric: value = q * scale, q in
// [-127, 127], scale = max |row| / 127). A model holding one serves from it and cannot learn; the
// rows are dequantized to float where they are gathered (ReadRow), so every product after the
// gather is the float model's. Stored in model files as `net.embed.f16` or `net.embed.q8` +
// `net.embed.scale` (docs/formats.md, "CTR and shop ranking models").
//
// Error per element, from converting a float row x once:
//   fp16: |x - h| <= max(|x| * 2^-11, 2^-25) (round to nearest even; 2^-25 is half the spacing
//         of binary16's subnormals); |x| beyond 65504, the largest half, saturates to +-65504.
//   int8: |x - q * scale| <= scale / 2 = max |row| / 254.
//
// Immutable after construction: every const call may run from any number of threads.

#include <immintrin.h>

#include <cstdint>
#include <cstring>
#include <span>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace freshet::rank {

// How a model stores its feature embedding rows. Persisted by name ("float", "fp16", "int8") in
// the model file's `ctr.embed_precision`; the numbers are not persisted.
enum class EmbedPrecision : uint8_t { kFloat = 0, kF16 = 1, kInt8 = 2 };

std::string_view PrecisionName(EmbedPrecision p);
// "float", "fp16" or "int8"; InvalidArgument naming the text otherwise.
Result<EmbedPrecision> ParsePrecision(std::string_view text);

// binary16 bit pattern of `x`, rounded to nearest even; saturates beyond +-65504 (see the top).
// REQUIRES: x is finite.
uint16_t FloatToHalf(float x);
// The float value of a binary16 bit pattern (exact).
float HalfToFloat(uint16_t h);

class QuantizedTable {
 public:
  // Converts `values` ([rows, dim] row-major). REQUIRES: precision != kFloat, dim > 0,
  // values.size() == rows * dim; InvalidArgument for a non-finite value (naming its row).
  static Result<QuantizedTable> FromFloat(EmbedPrecision precision, std::span<const float> values,
                                          uint32_t rows, int dim);
  // From the stored forms (model files). InvalidArgument for a wrong count, a non-finite half or
  // a negative / non-finite scale, naming what is wrong; the caller adds the file and entry.
  static Result<QuantizedTable> FromHalves(std::vector<uint16_t> halves, uint32_t rows, int dim);
  static Result<QuantizedTable> FromInt8(std::vector<int8_t> q, std::vector<float> scales,
                                         uint32_t rows, int dim);

  EmbedPrecision precision() const { return precision_; }
  uint32_t rows() const { return rows_; }
  int dim() const { return dim_; }
  // Bytes the rows take in memory (values and scales).
  size_t bytes() const {
    return halves_.size() * sizeof(uint16_t) + q_.size() + scales_.size() * sizeof(float);
  }
  std::span<const uint16_t> halves() const { return halves_; }  // fp16: [rows, dim]
  std::span<const int8_t> q() const { return q_; }              // int8: [rows, dim]
  std::span<const float> scales() const { return scales_; }     // int8: [rows]

  // Row `row` as floats. REQUIRES: row < rows(); out.size() == dim(). Const, thread-safe.
  void ReadRow(uint32_t row, std::span<float> out) const {
    if (precision_ == EmbedPrecision::kF16) {
      ReadHalfRow(row, out.data());
    } else {
      ReadInt8Row(row, out.data());
    }
  }
  // The same with the precision chosen by the caller, outside its loop. REQUIRES: precision().
  void ReadHalfRow(uint32_t row, float* out) const {
    const uint16_t* h = halves_.data() + static_cast<size_t>(row) * dim_;
    int d = 0;
#ifdef __F16C__
    // x86-64-v3 has F16C: eight halves to floats per instruction.
    for (; d + 8 <= dim_; d += 8) {
      const __m128i packed = _mm_loadu_si128(reinterpret_cast<const __m128i*>(h + d));
      _mm256_storeu_ps(out + d, _mm256_cvtph_ps(packed));
    }
#endif
    for (; d < dim_; ++d) out[d] = HalfToFloat(h[d]);
  }
  void ReadInt8Row(uint32_t row, float* out) const {
    const int8_t* q = q_.data() + static_cast<size_t>(row) * dim_;
    const float s = scales_[row];
    // A plain loop the compiler vectorises (sign-extend, convert, multiply).
    for (int d = 0; d < dim_; ++d) out[d] = s * static_cast<float>(q[d]);
  }
  // A hint that `row` is about to be read. Changes nothing.
  void Prefetch(uint32_t row) const {
    if (precision_ == EmbedPrecision::kF16) {
      __builtin_prefetch(halves_.data() + static_cast<size_t>(row) * dim_);
    } else {
      __builtin_prefetch(q_.data() + static_cast<size_t>(row) * dim_);
      __builtin_prefetch(scales_.data() + row);
    }
  }

 private:
  EmbedPrecision precision_ = EmbedPrecision::kF16;
  uint32_t rows_ = 0;
  int dim_ = 0;
  std::vector<uint16_t> halves_;
  std::vector<int8_t> q_;
  std::vector<float> scales_;
};

}  // namespace freshet::rank
