// Shared pieces of the primitives: the instruction set in use, the worker threads, small helpers.

#pragma once

#include <cstddef>
#include <functional>

#include "kernel_table.h"
#include "mlx/array.h"
#include "mlx/stream.h"

namespace clinpred_kernels::detail {

namespace mx = mlx::core;

// The selected ISA's kernels; throws when the CPU has neither AVX-512 nor AVX2 + FMA.
const KernelTable& table();

// Runs fn(begin, end) over [0, n) split into parts of whole `grain`s, one per worker thread when
// `work` (floats touched) is large enough, else in one call.
void parallel_for(size_t n, size_t grain, size_t work, const std::function<void(size_t, size_t)>& fn);

// Parts of an element-wise job: whole cache lines of floats.
constexpr size_t kElementGrain = 64;

// A (rows x cols) view of an array; q_len and offset describe a causal mask (row r is query r % q_len).
struct RowShape {
  size_t rows, cols, q_len, offset;
};

// Rows of the last axis of x (causal: the queries are axis -2).
RowShape row_shape(const mx::array& x, bool causal);
// parallel_for over rows, in parts of at least ~4096 floats.
void run_rows(const RowShape& rs, const std::function<void(size_t, size_t)>& fn);

mx::Stream cpu_stream();
void check_float32(const mx::array& x, const char* what);
void check_rows(const mx::array& x);
void allocate(mx::array& out);

}  // namespace clinpred_kernels::detail
