// The kernels for AVX2 + FMA (8 floats a register). Built with -mavx2 -mfma -ffp-contract=off;
// called only when the CPU reports AVX2 and FMA (runtime.cpp).

#include <immintrin.h>

#include "kernel_table.h"

namespace clinpred_kernels {
namespace isa_avx2 {

struct V {
  using R = __m256;
  using M = __m256;  // all-ones lanes where true
  static constexpr int W = 8;

  static inline __m256i first(int n) {
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
  }
  static inline R load(const float* p) { return _mm256_loadu_ps(p); }
  static inline void store(float* p, R v) { _mm256_storeu_ps(p, v); }
  static inline R load_part(const float* p, int n, R fill) {
    __m256i m = first(n);
    return _mm256_blendv_ps(fill, _mm256_maskload_ps(p, m), _mm256_castsi256_ps(m));
  }
  static inline void store_part(float* p, R v, int n) { _mm256_maskstore_ps(p, first(n), v); }
  static inline R set(float x) { return _mm256_set1_ps(x); }
  static inline R add(R a, R b) { return _mm256_add_ps(a, b); }
  static inline R sub(R a, R b) { return _mm256_sub_ps(a, b); }
  static inline R mul(R a, R b) { return _mm256_mul_ps(a, b); }
  static inline R div(R a, R b) { return _mm256_div_ps(a, b); }
  static inline R fma(R a, R b, R c) { return _mm256_fmadd_ps(a, b, c); }
  static inline R max(R a, R b) { return _mm256_max_ps(a, b); }
  static inline R abs(R a) { return _mm256_andnot_ps(_mm256_set1_ps(-0.0f), a); }
  static inline R floor(R a) { return _mm256_floor_ps(a); }
  static inline M lt(R a, R b) { return _mm256_cmp_ps(a, b, _CMP_LT_OQ); }
  static inline M gt(R a, R b) { return _mm256_cmp_ps(a, b, _CMP_GT_OQ); }
  static inline M ge(R a, R b) { return _mm256_cmp_ps(a, b, _CMP_GE_OQ); }
  static inline M isnan(R a) { return _mm256_cmp_ps(a, a, _CMP_UNORD_Q); }
  static inline R select(M m, R t, R f) { return _mm256_blendv_ps(f, t, m); }
  static inline R pow2(R ipart) {
    __m256i e = _mm256_add_epi32(_mm256_cvttps_epi32(ipart), _mm256_set1_epi32(127));
    return _mm256_castsi256_ps(_mm256_slli_epi32(e, 23));
  }
  static inline M even_lanes() {
    return _mm256_castsi256_ps(_mm256_setr_epi32(-1, 0, -1, 0, -1, 0, -1, 0));
  }
  static inline R swap_pairs(R v) { return _mm256_permute_ps(v, 0xB1); }
  static inline R dup_even(R v) { return _mm256_permute_ps(v, 0xA0); }
  static inline R dup_odd(R v) { return _mm256_permute_ps(v, 0xF5); }
  static inline float hsum(R v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
  }
  static inline float hmax(R v) {
    __m128 s = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_max_ps(s, _mm_movehl_ps(s, s));
    s = _mm_max_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
  }
};

#include "kernels_isa.inc"

}  // namespace isa_avx2

const KernelTable* table_avx2() {
  static const KernelTable table = {"avx2", isa_avx2::gate_fwd, isa_avx2::gate_bwd, isa_avx2::softmax_fwd,
                                    isa_avx2::softmax_bwd, isa_avx2::rope, isa_avx2::rms_fwd, isa_avx2::rms_bwd, isa_avx2::exp_array};
  return &table;
}

}  // namespace clinpred_kernels
