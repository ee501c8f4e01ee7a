// The kernels for AVX-512 (16 floats a register). Built with -mavx512f -mavx512dq -mfma
// -ffp-contract=off; called only when the CPU reports AVX-512F and DQ (runtime.cpp).

#include <immintrin.h>

#include "kernel_table.h"

namespace clinpred_kernels {
namespace isa_avx512 {

struct V {
  using R = __m512;
  using M = __mmask16;
  static constexpr int W = 16;

  static inline __mmask16 first(int n) { return static_cast<__mmask16>((1u << n) - 1u); }
  static inline R load(const float* p) { return _mm512_loadu_ps(p); }
  static inline void store(float* p, R v) { _mm512_storeu_ps(p, v); }
  static inline R load_part(const float* p, int n, R fill) { return _mm512_mask_loadu_ps(fill, first(n), p); }
  static inline void store_part(float* p, R v, int n) { _mm512_mask_storeu_ps(p, first(n), v); }
  static inline R set(float x) { return _mm512_set1_ps(x); }
  static inline R add(R a, R b) { return _mm512_add_ps(a, b); }
  static inline R sub(R a, R b) { return _mm512_sub_ps(a, b); }
  static inline R mul(R a, R b) { return _mm512_mul_ps(a, b); }
  static inline R div(R a, R b) { return _mm512_div_ps(a, b); }
  static inline R fma(R a, R b, R c) { return _mm512_fmadd_ps(a, b, c); }
  static inline R max(R a, R b) { return _mm512_max_ps(a, b); }
  static inline R abs(R a) { return _mm512_abs_ps(a); }
  static inline R floor(R a) { return _mm512_roundscale_ps(a, _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC); }
  static inline M lt(R a, R b) { return _mm512_cmp_ps_mask(a, b, _CMP_LT_OQ); }
  static inline M gt(R a, R b) { return _mm512_cmp_ps_mask(a, b, _CMP_GT_OQ); }
  static inline M ge(R a, R b) { return _mm512_cmp_ps_mask(a, b, _CMP_GE_OQ); }
  static inline M isnan(R a) { return _mm512_cmp_ps_mask(a, a, _CMP_UNORD_Q); }
  static inline R select(M m, R t, R f) { return _mm512_mask_blend_ps(m, f, t); }
  static inline R pow2(R ipart) {
    __m512i e = _mm512_add_epi32(_mm512_cvttps_epi32(ipart), _mm512_set1_epi32(127));
    return _mm512_castsi512_ps(_mm512_slli_epi32(e, 23));
  }
  static inline M even_lanes() { return static_cast<__mmask16>(0x5555); }
  static inline R swap_pairs(R v) { return _mm512_permute_ps(v, 0xB1); }
  static inline R dup_even(R v) { return _mm512_permute_ps(v, 0xA0); }
  static inline R dup_odd(R v) { return _mm512_permute_ps(v, 0xF5); }
  static inline float hsum(R v) { return _mm512_reduce_add_ps(v); }
  static inline float hmax(R v) { return _mm512_reduce_max_ps(v); }
};

#include "kernels_isa.inc"

}  // namespace isa_avx512

const KernelTable* table_avx512() {
  static const KernelTable table = {"avx512", isa_avx512::gate_fwd, isa_avx512::gate_bwd,
                                    isa_avx512::softmax_fwd, isa_avx512::softmax_bwd, isa_avx512::rope, isa_avx512::rms_fwd, isa_avx512::rms_bwd,
                                    isa_avx512::exp_array};
  return &table;
}

}  // namespace clinpred_kernels
