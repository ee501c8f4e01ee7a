// clinpred's vectorized CPU kernels: the table of one instruction set's implementations.
//
// Each ISA translation unit (isa_avx512.cpp, isa_avx2.cpp) is compiled with its own -m flags and
// fills one table; runtime.cpp picks one at run time (cpuid); nothing else includes <immintrin.h>.
// All functions take float32, row-major, contiguous data.

#pragma once

#include <cstddef>

namespace clinpred_kernels {

// The activation of a gated MLP: out = act(a) * b.
enum GateKind : int {
  kSilu = 0,      // silu(a) = a * sigmoid(a)              (llama, qwen2, qwen3, phi3, mistral)
  kGeluTanh = 1,  // gelu_approx(a) = a * sigmoid(2 z(a))  (gemma 3: 0.5 a (1 + tanh z))
};

struct KernelTable {
  const char* isa;
  // out[i] = act(a[i]) * b[i], i in [0, n)
  void (*gate_fwd)(int kind, const float* a, const float* b, float* out, size_t n);
  // da = g * b * act'(a), db = g * act(a)
  void (*gate_bwd)(int kind, const float* a, const float* b, const float* g, float* da, float* db, size_t n);
  // Softmax of rows [r0, r1) of a (rows x cols) matrix. With causal, row r keeps its first
  // (r % q_len) + offset + 1 columns (the others are 0): attention's causal mask for q_len
  // queries at positions offset.. against cols keys.
  void (*softmax_fwd)(const float* x, float* y, size_t r0, size_t r1, size_t cols, size_t q_len,
                      size_t offset, bool causal);
  // dx = y * g - y * sum(y * g) per row (the softmax vjp), rows [r0, r1).
  void (*softmax_bwd)(const float* y, const float* g, float* dx, size_t r0, size_t r1, size_t cols,
                      size_t q_len, size_t offset, bool causal);
  // Rotary position embedding of rows [r0, r1) of x (rows x D; row r is at position r % T):
  // the pairs (x1, x2) of the first `dims` columns — (x[2i], x[2i+1]) when traditional, else
  // (x[i], x[i + dims/2]) — become (x1 c - x2 s, x1 s + x2 c) (forward) or (x2 s + x1 c,
  // x2 c - x1 s) (the inverse, the vjp); columns >= dims are copied. table is (T x dims): per
  // position (c0, s0, c1, s1, ...) when traditional, else (c0..c_{h-1}, s0..s_{h-1}).
  void (*rope)(const float* x, const float* table, float* out, size_t r0, size_t r1, size_t T, size_t D,
               size_t dims, bool traditional, bool forward);
  // RMS norm of rows [r0, r1) of x (rows x D): n = 1 / sqrt(sum(x^2) / D + eps), y = (x n) w.
  void (*rms_fwd)(const float* x, const float* w, float* y, size_t r0, size_t r1, size_t D, float eps);
  // Its vjp for x: dx = (g w) n - (x t) n^3 with t = sum(g w x) / D (MLX's RMSNormVJP formula).
  void (*rms_bwd)(const float* x, const float* w, const float* g, float* dx, size_t r0, size_t r1, size_t D,
                  float eps);
  // y[i] = exp(x[i]) (MLX's polynomial, vectorized): for tests and benchmarks.
  void (*exp)(const float* x, float* y, size_t n);
};

const KernelTable* table_avx512();
const KernelTable* table_avx2();

}  // namespace clinpred_kernels
