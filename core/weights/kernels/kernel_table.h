// clinpred's vectorized CPU kernels: the table of one instruction set's implementations.
//
// Each ISA translation unit (isa_avx512.cpp, isa_avx2.cpp) is compiled with its own -m flags and
// fills one table; primitives.cpp picks a table at run time (cpuid) and never includes <immintrin.h>.
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
  // y[i] = exp(x[i]) (MLX's polynomial, vectorized): for tests and benchmarks.
  void (*exp)(const float* x, float* y, size_t n);
};

const KernelTable* table_avx512();
const KernelTable* table_avx2();

}  // namespace clinpred_kernels
