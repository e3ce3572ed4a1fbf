#pragma once

// For the AVX512-BF16 kernels only (bf16_kernels.cc, bf16_gemm.cc); never include it from a
// header. The translation units are compiled for x86-64-v3 like the rest of the project; every
// function that uses AVX-512 carries FRESHET_AVX512BF16 and none is inline in a header, so no
// AVX-512 instruction can reach a caller that did not check bf16::Supported().

// GCC 12's AVX-512 headers build their "undefined" pass-through vectors from a self-initialised
// variable, which -Wmaybe-uninitialized reports wherever such an intrinsic is inlined (GCC bug
// 105593, fixed in GCC 13). The warning is wrong there, and only there it is silenced.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>
#pragma GCC diagnostic pop

#define FRESHET_AVX512BF16 __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx512bf16")))
