// Python bindings (nanobind, in MLX's domain "mlx" so mx.array converts both ways).

#include <nanobind/nanobind.h>
#include <nanobind/stl/string.h>

#include "primitives.h"

namespace nb = nanobind;
using namespace nb::literals;
namespace ck = clinpred_kernels;

NB_MODULE(_clinpred_kernels, m) {
  m.doc() = "clinpred's vectorized (AVX-512 / AVX2) MLX CPU kernels";
  m.attr("SILU") = static_cast<int>(ck::kSilu);
  m.attr("GELU_TANH") = static_cast<int>(ck::kGeluTanh);
  m.def("gated_activation", &ck::gated_activation, "a"_a, "b"_a, "kind"_a,
        "act(a) * b on the CPU (kind SILU or GELU_TANH), float32, with vjp and jvp");
  m.def("row_softmax", &ck::row_softmax, "x"_a, "causal"_a = false,
        "softmax over the last axis on the CPU; causal: attention's mask for (..., queries, keys)");
  m.def("rms_norm", &ck::rms_norm, "x"_a, "weight"_a, "eps"_a,
        "RMS norm over the last axis: x / sqrt(mean(x^2) + eps) * weight");
  m.def("rope", &ck::rope, "x"_a, "table"_a, "dims"_a, "traditional"_a, "forward"_a = true,
        "rotary position embedding of x (..., T, D) with a (T, dims) cos/sin table");
  m.def("exp", &ck::vexp, "x"_a, "exp(x), MLX's polynomial vectorized (tests and benchmarks)");
  m.def("isa", &ck::isa, "the instruction set in use: avx512, avx2 or none");
  m.def("select_isa", &ck::select_isa, "name"_a, "use auto, avx512 or avx2; returns the one in use");
  m.def("threads", &ck::threads, "worker threads for large arrays");
  m.def("set_threads", &ck::set_threads, "n"_a, "set the worker threads (1 = no workers)");
}
