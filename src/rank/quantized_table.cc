#include "rank/quantized_table.h"

#include <algorithm>
#include <cmath>
#include <string>

namespace freshet::rank {
namespace {

constexpr float kMaxHalf = 65504.0f;
constexpr int kInt8Max = 127;  // symmetric: -128 is never produced

std::string RowText(size_t i, int dim) {
  return "row " + std::to_string(i / static_cast<size_t>(dim));
}

}  // namespace

std::string_view PrecisionName(EmbedPrecision p) {
  switch (p) {
    case EmbedPrecision::kFloat: return "float";
    case EmbedPrecision::kF16: return "fp16";
    case EmbedPrecision::kInt8: return "int8";
  }
  return "?";
}

Result<EmbedPrecision> ParsePrecision(std::string_view text) {
  if (text == "float") return EmbedPrecision::kFloat;
  if (text == "fp16") return EmbedPrecision::kF16;
  if (text == "int8") return EmbedPrecision::kInt8;
  return Status::InvalidArgument("unknown precision '" + std::string(text) +
                                 "' (known: fp16, int8)");
}

uint16_t FloatToHalf(float x) {
  x = std::clamp(x, -kMaxHalf, kMaxHalf);
  uint32_t f;
  std::memcpy(&f, &x, sizeof(f));
  const auto sign = static_cast<uint16_t>((f >> 16) & 0x8000u);
  f &= 0x7fffffffu;
  if (f < 0x38800000u) {  // below 2^-14: a subnormal half or zero
    if (f < 0x33000000u) return sign;  // below 2^-25 (or exactly it: the tie goes to even 0)
    const uint32_t e = f >> 23;        // 102 .. 112
    const uint32_t m = (f & 0x7fffffu) | 0x800000u;
    const uint32_t shift = 126 - e;    // x / 2^-24 = m >> shift
    uint32_t h = m >> shift;
    const uint32_t rem = m & ((1u << shift) - 1);
    const uint32_t half = 1u << (shift - 1);
    if (rem > half || (rem == half && (h & 1u) != 0)) ++h;
    return static_cast<uint16_t>(sign | h);
  }
  // Normal: rebias the exponent (127 - 15 = 112) and round the 13 dropped mantissa bits; a carry
  // into the exponent is the correct result (at most 65504: x was clamped).
  uint32_t h = (f - 0x38000000u) >> 13;
  const uint32_t rem = f & 0x1fffu;
  if (rem > 0x1000u || (rem == 0x1000u && (h & 1u) != 0)) ++h;
  return static_cast<uint16_t>(sign | h);
}

float HalfToFloat(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  const uint32_t exp = (h >> 10) & 0x1fu;
  const uint32_t mant = h & 0x3ffu;
  uint32_t f;
  if (exp == 0) {
    const float v = std::ldexp(static_cast<float>(mant), -24);  // exact
    std::memcpy(&f, &v, sizeof(f));
    f |= sign;
  } else if (exp == 31) {
    f = sign | 0x7f800000u | (mant << 13);
  } else {
    f = sign | ((exp + 112) << 23) | (mant << 13);
  }
  float x;
  std::memcpy(&x, &f, sizeof(x));
  return x;
}

Result<QuantizedTable> QuantizedTable::FromFloat(EmbedPrecision precision,
                                                 std::span<const float> values, uint32_t rows,
                                                 int dim) {
  const size_t k = static_cast<size_t>(dim);
  if (precision == EmbedPrecision::kFloat || dim <= 0 || values.size() != rows * k) {
    return Status::InvalidArgument("quantize: bad precision or table shape");
  }
  for (size_t i = 0; i < values.size(); ++i) {
    if (!std::isfinite(values[i])) {
      return Status::InvalidArgument("the embedding table holds a non-finite value (" +
                                     RowText(i, dim) + ")");
    }
  }
  QuantizedTable t;
  t.precision_ = precision;
  t.rows_ = rows;
  t.dim_ = dim;
  if (precision == EmbedPrecision::kF16) {
    t.halves_.resize(values.size());
    for (size_t i = 0; i < values.size(); ++i) t.halves_[i] = FloatToHalf(values[i]);
    return t;
  }
  t.q_.resize(values.size());
  t.scales_.resize(rows);
  for (uint32_t r = 0; r < rows; ++r) {
    const float* x = values.data() + r * k;
    float max_abs = 0;
    for (size_t d = 0; d < k; ++d) max_abs = std::max(max_abs, std::abs(x[d]));
    const float scale = max_abs / kInt8Max;
    t.scales_[r] = scale;
    int8_t* q = t.q_.data() + r * k;
    if (scale == 0) {  // an all-zero row (or one of subnormals that rounds to it)
      std::fill(q, q + k, int8_t{0});
      continue;
    }
    for (size_t d = 0; d < k; ++d) {
      const float v = std::nearbyint(x[d] / scale);
      q[d] = static_cast<int8_t>(std::clamp(v, -static_cast<float>(kInt8Max),
                                            static_cast<float>(kInt8Max)));
    }
  }
  return t;
}

Result<QuantizedTable> QuantizedTable::FromHalves(std::vector<uint16_t> halves, uint32_t rows,
                                                  int dim) {
  if (dim <= 0 || halves.size() != static_cast<size_t>(rows) * static_cast<size_t>(dim)) {
    return Status::InvalidArgument("has " + std::to_string(halves.size()) + " values, expected " +
                                   std::to_string(static_cast<size_t>(rows) * dim));
  }
  for (size_t i = 0; i < halves.size(); ++i) {
    if ((halves[i] & 0x7c00u) == 0x7c00u) {
      return Status::InvalidArgument("holds a non-finite value (" + RowText(i, dim) + ")");
    }
  }
  QuantizedTable t;
  t.precision_ = EmbedPrecision::kF16;
  t.rows_ = rows;
  t.dim_ = dim;
  t.halves_ = std::move(halves);
  return t;
}

Result<QuantizedTable> QuantizedTable::FromInt8(std::vector<int8_t> q, std::vector<float> scales,
                                                uint32_t rows, int dim) {
  if (dim <= 0 || q.size() != static_cast<size_t>(rows) * static_cast<size_t>(dim) ||
      scales.size() != rows) {
    return Status::InvalidArgument("has " + std::to_string(q.size()) + " values and " +
                                   std::to_string(scales.size()) + " scales, expected " +
                                   std::to_string(static_cast<size_t>(rows) * dim) + " and " +
                                   std::to_string(rows));
  }
  for (uint32_t r = 0; r < rows; ++r) {
    if (!std::isfinite(scales[r]) || scales[r] < 0) {
      return Status::InvalidArgument("holds a negative or non-finite scale (row " +
                                     std::to_string(r) + ")");
    }
  }
  QuantizedTable t;
  t.precision_ = EmbedPrecision::kInt8;
  t.rows_ = rows;
  t.dim_ = dim;
  t.q_ = std::move(q);
  t.scales_ = std::move(scales);
  return t;
}

}  // namespace freshet::rank
