// The gated activation (MLP gate) and row softmax primitives; see primitives.h.

#include "primitives.h"

#include <memory>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <vector>

#include "mlx/backend/cpu/encoder.h"
#include "runtime.h"

namespace clinpred_kernels {

using namespace detail;

// ------------------------------------------------------------------ gated activation

mx::array gated_activation(const mx::array& a, const mx::array& b, int kind) {
  if (kind != kSilu && kind != kGeluTanh) {
    throw std::invalid_argument("[clinpred kernels] kind must be 0 (silu) or 1 (gelu_tanh)");
  }
  check_float32(a, "the gate");
  check_float32(b, "the up projection");
  if (a.shape() != b.shape()) {
    std::ostringstream msg;
    msg << "[clinpred kernels] gate and up projection shapes differ: " << a.shape() << " vs " << b.shape();
    throw std::invalid_argument(msg.str());
  }
  auto s = cpu_stream();
  return mx::array(a.shape(), mx::float32, std::make_shared<GatedActivation>(s, kind),
                   {mx::contiguous(a, false, s), mx::contiguous(b, false, s)});
}

void GatedActivation::eval_cpu(const std::vector<mx::array>& inputs, mx::array& out) {
  const auto& a = inputs[0];
  const auto& b = inputs[1];
  check_rows(a);
  check_rows(b);
  allocate(out);
  auto& enc = mx::cpu::get_command_encoder(stream());
  enc.set_input_array(a);
  enc.set_input_array(b);
  enc.set_output_array(out);
  enc.dispatch([ap = a.data<float>(), bp = b.data<float>(), op = out.data<float>(), n = out.size(),
                kind = kind_, t = &table()]() {
    parallel_for(n, kElementGrain, n, [&](size_t i0, size_t i1) {
      t->gate_fwd(kind, ap + i0, bp + i0, op + i0, i1 - i0);
    });
  });
}

void GatedActivation::eval_gpu(const std::vector<mx::array>&, mx::array&) {
  throw std::runtime_error("[clinpred kernels] CPU only: MLX's own kernels are used on a GPU");
}

std::vector<mx::array> GatedActivation::vjp(const std::vector<mx::array>& primals,
                                            const std::vector<mx::array>& cotangents,
                                            const std::vector<int>& argnums, const std::vector<mx::array>&) {
  auto g = mx::contiguous(mx::astype(cotangents[0], mx::float32, stream()), false, stream());
  auto grads = mx::array::make_arrays({primals[0].shape(), primals[0].shape()}, {mx::float32, mx::float32},
                                      std::make_shared<GatedActivationGrad>(stream(), kind_),
                                      {primals[0], primals[1], g});
  std::vector<mx::array> out;
  for (int arg : argnums) {
    out.push_back(grads[arg]);
  }
  return out;
}

std::vector<mx::array> GatedActivation::jvp(const std::vector<mx::array>& primals,
                                            const std::vector<mx::array>& tangents,
                                            const std::vector<int>& argnums) {
  // d(act(a) b) = b act'(a) da + act(a) db: the grad primitive with g = 1 gives both factors.
  auto ones = mx::ones_like(primals[0], stream());
  auto coef = mx::array::make_arrays({primals[0].shape(), primals[0].shape()}, {mx::float32, mx::float32},
                                     std::make_shared<GatedActivationGrad>(stream(), kind_),
                                     {primals[0], primals[1], ones});
  std::optional<mx::array> total;
  for (size_t i = 0; i < argnums.size(); ++i) {
    auto term = mx::multiply(coef[argnums[i]], tangents[i], stream());
    total = total ? mx::add(*total, term, stream()) : term;
  }
  return {*total};
}

std::pair<std::vector<mx::array>, std::vector<int>> GatedActivation::vmap(const std::vector<mx::array>& inputs,
                                                                          const std::vector<int>& axes) {
  if (axes[0] >= 0 && axes[0] == axes[1]) {
    return {{gated_activation(inputs[0], inputs[1], kind_)}, {axes[0]}};
  }
  // Move the mapped axis to the front; an unmapped input is broadcast along it.
  const mx::array& mapped = axes[0] >= 0 ? inputs[0] : inputs[1];
  int axis = axes[0] >= 0 ? axes[0] : axes[1];
  auto front = mx::moveaxis(mapped, axis, 0, stream());
  std::vector<mx::array> xs;
  for (int i = 0; i < 2; ++i) {
    xs.push_back(axes[i] >= 0 ? mx::moveaxis(inputs[i], axes[i], 0, stream())
                              : mx::broadcast_to(mx::expand_dims(inputs[i], 0, stream()), front.shape(), stream()));
  }
  return {{gated_activation(xs[0], xs[1], kind_)}, {0}};
}

std::vector<mx::Shape> GatedActivation::output_shapes(const std::vector<mx::array>& inputs) {
  return {inputs[0].shape()};
}

bool GatedActivation::is_equivalent(const mx::Primitive& other) const {
  return kind_ == static_cast<const GatedActivation&>(other).kind_;
}

void GatedActivationGrad::eval_cpu(const std::vector<mx::array>& inputs, std::vector<mx::array>& outputs) {
  for (const auto& x : inputs) {
    check_rows(x);
  }
  allocate(outputs[0]);
  allocate(outputs[1]);
  auto& enc = mx::cpu::get_command_encoder(stream());
  for (const auto& x : inputs) {
    enc.set_input_array(x);
  }
  enc.set_output_array(outputs[0]);
  enc.set_output_array(outputs[1]);
  enc.dispatch([ap = inputs[0].data<float>(), bp = inputs[1].data<float>(), gp = inputs[2].data<float>(),
                dap = outputs[0].data<float>(), dbp = outputs[1].data<float>(), n = outputs[0].size(),
                kind = kind_, t = &table()]() {
    parallel_for(n, kElementGrain, n, [&](size_t i0, size_t i1) {
      t->gate_bwd(kind, ap + i0, bp + i0, gp + i0, dap + i0, dbp + i0, i1 - i0);
    });
  });
}

void GatedActivationGrad::eval_gpu(const std::vector<mx::array>&, std::vector<mx::array>&) {
  throw std::runtime_error("[clinpred kernels] CPU only: MLX's own kernels are used on a GPU");
}

std::vector<mx::Shape> GatedActivationGrad::output_shapes(const std::vector<mx::array>& inputs) {
  return {inputs[0].shape(), inputs[0].shape()};
}

bool GatedActivationGrad::is_equivalent(const mx::Primitive& other) const {
  return kind_ == static_cast<const GatedActivationGrad&>(other).kind_;
}

// ------------------------------------------------------------------ row softmax

mx::array row_softmax(const mx::array& x, bool causal) {
  check_float32(x, "the softmax input");
  if (x.ndim() < 1) {
    throw std::invalid_argument("[clinpred kernels] softmax needs at least one axis");
  }
  if (causal && (x.ndim() < 2 || x.shape(-1) < x.shape(-2) || x.shape(-2) < 1)) {
    std::ostringstream msg;
    msg << "[clinpred kernels] a causal softmax needs scores (..., queries, keys) with keys >= queries >= 1, got "
        << x.shape();
    throw std::invalid_argument(msg.str());
  }
  auto s = cpu_stream();
  return mx::array(x.shape(), mx::float32, std::make_shared<RowSoftmax>(s, causal), {mx::contiguous(x, false, s)});
}

void RowSoftmax::eval_cpu(const std::vector<mx::array>& inputs, mx::array& out) {
  const auto& x = inputs[0];
  check_rows(x);
  allocate(out);
  auto& enc = mx::cpu::get_command_encoder(stream());
  enc.set_input_array(x);
  enc.set_output_array(out);
  enc.dispatch([xp = x.data<float>(), yp = out.data<float>(), rs = row_shape(x, causal_), causal = causal_,
                t = &table()]() {
    run_rows(rs, [&](size_t r0, size_t r1) { t->softmax_fwd(xp, yp, r0, r1, rs.cols, rs.q_len, rs.offset, causal); });
  });
}

void RowSoftmax::eval_gpu(const std::vector<mx::array>&, mx::array&) {
  throw std::runtime_error("[clinpred kernels] CPU only: MLX's own kernels are used on a GPU");
}

std::vector<mx::array> RowSoftmax::vjp(const std::vector<mx::array>&, const std::vector<mx::array>& cotangents,
                                       const std::vector<int>&, const std::vector<mx::array>& outputs) {
  auto g = mx::contiguous(mx::astype(cotangents[0], mx::float32, stream()), false, stream());
  return {mx::array(outputs[0].shape(), mx::float32, std::make_shared<RowSoftmaxGrad>(stream(), causal_),
                    {outputs[0], g})};
}

std::vector<mx::array> RowSoftmax::jvp(const std::vector<mx::array>& primals, const std::vector<mx::array>& tangents,
                                       const std::vector<int>&) {
  // The softmax Jacobian diag(y) - y y^T is symmetric: the jvp is the vjp formula applied to t.
  auto y = row_softmax(primals[0], causal_);
  auto t = mx::contiguous(mx::astype(tangents[0], mx::float32, stream()), false, stream());
  return {mx::array(y.shape(), mx::float32, std::make_shared<RowSoftmaxGrad>(stream(), causal_), {y, t})};
}

std::pair<std::vector<mx::array>, std::vector<int>> RowSoftmax::vmap(const std::vector<mx::array>& inputs,
                                                                     const std::vector<int>& axes) {
  return {{row_softmax(mx::moveaxis(inputs[0], axes[0], 0, stream()), causal_)}, {0}};
}

std::vector<mx::Shape> RowSoftmax::output_shapes(const std::vector<mx::array>& inputs) {
  return {inputs[0].shape()};
}

bool RowSoftmax::is_equivalent(const mx::Primitive& other) const {
  return causal_ == static_cast<const RowSoftmax&>(other).causal_;
}

void RowSoftmaxGrad::eval_cpu(const std::vector<mx::array>& inputs, mx::array& out) {
  const auto& y = inputs[0];
  const auto& g = inputs[1];
  check_rows(y);
  check_rows(g);
  allocate(out);
  auto& enc = mx::cpu::get_command_encoder(stream());
  enc.set_input_array(y);
  enc.set_input_array(g);
  enc.set_output_array(out);
  enc.dispatch([yp = y.data<float>(), gp = g.data<float>(), dp = out.data<float>(), rs = row_shape(y, causal_),
                causal = causal_, t = &table()]() {
    run_rows(rs, [&](size_t r0, size_t r1) {
      t->softmax_bwd(yp, gp, dp, r0, r1, rs.cols, rs.q_len, rs.offset, causal);
    });
  });
}

void RowSoftmaxGrad::eval_gpu(const std::vector<mx::array>&, mx::array&) {
  throw std::runtime_error("[clinpred kernels] CPU only: MLX's own kernels are used on a GPU");
}

std::vector<mx::Shape> RowSoftmaxGrad::output_shapes(const std::vector<mx::array>& inputs) {
  return {inputs[0].shape()};
}

bool RowSoftmaxGrad::is_equivalent(const mx::Primitive& other) const {
  return causal_ == static_cast<const RowSoftmaxGrad&>(other).causal_;
}

}  // namespace clinpred_kernels
