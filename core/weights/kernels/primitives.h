// MLX primitives backed by clinpred's vectorized CPU kernels (kernel_table.h).
//
// gated_activation(a, b, kind) = act(a) * b and row_softmax(x, causal) = softmax over the last
// axis (with attention's causal mask built in). Each has a vjp (a fused backward primitive) and a
// jvp, so MLX's autograd uses them in LoRA training. CPU streams only: float32 inputs, made
// row-contiguous first; eval_gpu throws (Metal and CUDA keep MLX's own kernels).

#pragma once

#include <string>

#include "kernel_table.h"
#include "mlx/ops.h"
#include "mlx/primitives.h"

namespace clinpred_kernels {

namespace mx = mlx::core;

mx::array gated_activation(const mx::array& a, const mx::array& b, int kind);
mx::array row_softmax(const mx::array& x, bool causal);
// RMS norm over the last axis: x (..., D), weight (D,).
mx::array rms_norm(const mx::array& x, const mx::array& weight, float eps);
// Rotary position embedding of x (..., T, D) with the cos/sin table (T, dims) (kernel_table.h);
// forward = false applies the inverse rotation.
mx::array rope(const mx::array& x, const mx::array& table, int dims, bool traditional, bool forward);

// The instruction set in use ("avx512", "avx2" or "none"); select_isa("auto"|"avx512"|"avx2")
// returns what was picked (a set the CPU lacks is refused: "none" is returned, nothing changes).
std::string isa();
std::string select_isa(const std::string& name);
// Worker threads for large arrays (1 = the calling thread only).
int threads();
void set_threads(int n);
// y = exp(x) with the selected ISA: for tests and benchmarks of the exp itself.
mx::array vexp(const mx::array& x);

class GatedActivation : public mx::UnaryPrimitive {
 public:
  GatedActivation(mx::Stream stream, int kind) : mx::UnaryPrimitive(stream), kind_(kind) {}
  void eval_cpu(const std::vector<mx::array>& inputs, mx::array& out) override;
  void eval_gpu(const std::vector<mx::array>& inputs, mx::array& out) override;
  std::vector<mx::array> jvp(const std::vector<mx::array>& primals, const std::vector<mx::array>& tangents,
                             const std::vector<int>& argnums) override;
  std::vector<mx::array> vjp(const std::vector<mx::array>& primals, const std::vector<mx::array>& cotangents,
                             const std::vector<int>& argnums, const std::vector<mx::array>& outputs) override;
  std::pair<std::vector<mx::array>, std::vector<int>> vmap(const std::vector<mx::array>& inputs,
                                                           const std::vector<int>& axes) override;
  std::vector<mx::Shape> output_shapes(const std::vector<mx::array>& inputs) override;
  const char* name() const override { return "ClinpredGatedActivation"; }
  bool is_equivalent(const mx::Primitive& other) const override;

 private:
  int kind_;
};

// Inputs (a, b, g); outputs (da, db) = (g * b * act'(a), g * act(a)).
class GatedActivationGrad : public mx::Primitive {
 public:
  GatedActivationGrad(mx::Stream stream, int kind) : mx::Primitive(stream), kind_(kind) {}
  void eval_cpu(const std::vector<mx::array>& inputs, std::vector<mx::array>& outputs) override;
  void eval_gpu(const std::vector<mx::array>& inputs, std::vector<mx::array>& outputs) override;
  std::vector<mx::Shape> output_shapes(const std::vector<mx::array>& inputs) override;
  const char* name() const override { return "ClinpredGatedActivationGrad"; }
  bool is_equivalent(const mx::Primitive& other) const override;

 private:
  int kind_;
};

class RowSoftmax : public mx::UnaryPrimitive {
 public:
  RowSoftmax(mx::Stream stream, bool causal) : mx::UnaryPrimitive(stream), causal_(causal) {}
  void eval_cpu(const std::vector<mx::array>& inputs, mx::array& out) override;
  void eval_gpu(const std::vector<mx::array>& inputs, mx::array& out) override;
  std::vector<mx::array> jvp(const std::vector<mx::array>& primals, const std::vector<mx::array>& tangents,
                             const std::vector<int>& argnums) override;
  std::vector<mx::array> vjp(const std::vector<mx::array>& primals, const std::vector<mx::array>& cotangents,
                             const std::vector<int>& argnums, const std::vector<mx::array>& outputs) override;
  std::pair<std::vector<mx::array>, std::vector<int>> vmap(const std::vector<mx::array>& inputs,
                                                           const std::vector<int>& axes) override;
  std::vector<mx::Shape> output_shapes(const std::vector<mx::array>& inputs) override;
  const char* name() const override { return "ClinpredRowSoftmax"; }
  bool is_equivalent(const mx::Primitive& other) const override;

 private:
  bool causal_;
};

// Inputs (y, g) with y = softmax(x); output y * g - y * sum(y * g) per row.
class RowSoftmaxGrad : public mx::UnaryPrimitive {
 public:
  RowSoftmaxGrad(mx::Stream stream, bool causal) : mx::UnaryPrimitive(stream), causal_(causal) {}
  void eval_cpu(const std::vector<mx::array>& inputs, mx::array& out) override;
  void eval_gpu(const std::vector<mx::array>& inputs, mx::array& out) override;
  std::vector<mx::Shape> output_shapes(const std::vector<mx::array>& inputs) override;
  const char* name() const override { return "ClinpredRowSoftmaxGrad"; }
  bool is_equivalent(const mx::Primitive& other) const override;

 private:
  bool causal_;
};

class RmsNorm : public mx::UnaryPrimitive {
 public:
  RmsNorm(mx::Stream stream, float eps) : mx::UnaryPrimitive(stream), eps_(eps) {}
  void eval_cpu(const std::vector<mx::array>& inputs, mx::array& out) override;
  void eval_gpu(const std::vector<mx::array>& inputs, mx::array& out) override;
  std::vector<mx::array> jvp(const std::vector<mx::array>& primals, const std::vector<mx::array>& tangents,
                             const std::vector<int>& argnums) override;
  std::vector<mx::array> vjp(const std::vector<mx::array>& primals, const std::vector<mx::array>& cotangents,
                             const std::vector<int>& argnums, const std::vector<mx::array>& outputs) override;
  std::vector<mx::Shape> output_shapes(const std::vector<mx::array>& inputs) override;
  const char* name() const override { return "ClinpredRmsNorm"; }
  bool is_equivalent(const mx::Primitive& other) const override;

 private:
  float eps_;
};

// Inputs (x, weight, g); output dx.
class RmsNormGrad : public mx::UnaryPrimitive {
 public:
  RmsNormGrad(mx::Stream stream, float eps) : mx::UnaryPrimitive(stream), eps_(eps) {}
  void eval_cpu(const std::vector<mx::array>& inputs, mx::array& out) override;
  void eval_gpu(const std::vector<mx::array>& inputs, mx::array& out) override;
  std::vector<mx::Shape> output_shapes(const std::vector<mx::array>& inputs) override;
  const char* name() const override { return "ClinpredRmsNormGrad"; }
  bool is_equivalent(const mx::Primitive& other) const override;

 private:
  float eps_;
};

// Inputs (x, table); the table is a constant (no gradient flows into it).
class Rope : public mx::UnaryPrimitive {
 public:
  Rope(mx::Stream stream, int dims, bool traditional, bool forward)
      : mx::UnaryPrimitive(stream), dims_(dims), traditional_(traditional), forward_(forward) {}
  void eval_cpu(const std::vector<mx::array>& inputs, mx::array& out) override;
  void eval_gpu(const std::vector<mx::array>& inputs, mx::array& out) override;
  std::vector<mx::array> jvp(const std::vector<mx::array>& primals, const std::vector<mx::array>& tangents,
                             const std::vector<int>& argnums) override;
  std::vector<mx::array> vjp(const std::vector<mx::array>& primals, const std::vector<mx::array>& cotangents,
                             const std::vector<int>& argnums, const std::vector<mx::array>& outputs) override;
  std::vector<mx::Shape> output_shapes(const std::vector<mx::array>& inputs) override;
  const char* name() const override { return "ClinpredRope"; }
  bool is_equivalent(const mx::Primitive& other) const override;

 private:
  int dims_;
  bool traditional_;
  bool forward_;
};

class Exp : public mx::UnaryPrimitive {
 public:
  explicit Exp(mx::Stream stream) : mx::UnaryPrimitive(stream) {}
  void eval_cpu(const std::vector<mx::array>& inputs, mx::array& out) override;
  void eval_gpu(const std::vector<mx::array>& inputs, mx::array& out) override;
  const char* name() const override { return "ClinpredExp"; }
};

}  // namespace clinpred_kernels
