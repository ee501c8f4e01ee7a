// The RMS norm, rotary embedding and exp primitives; see primitives.h.

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

// ------------------------------------------------------------------ RMS norm

mx::array rms_norm(const mx::array& x, const mx::array& weight, float eps) {
  check_float32(x, "the rms_norm input");
  check_float32(weight, "the rms_norm weight");
  if (x.ndim() < 1 || weight.ndim() != 1 || weight.shape(0) != x.shape(-1)) {
    std::ostringstream msg;
    msg << "[clinpred kernels] rms_norm needs x (..., D) and a weight (D,); got " << x.shape() << " and "
        << weight.shape();
    throw std::invalid_argument(msg.str());
  }
  auto s = cpu_stream();
  return mx::array(x.shape(), mx::float32, std::make_shared<RmsNorm>(s, eps),
                   {mx::contiguous(x, false, s), mx::contiguous(weight, false, s)});
}

namespace {

mx::array rms_grad(const mx::array& x, const mx::array& w, const mx::array& g, float eps, mx::Stream s) {
  auto gc = mx::contiguous(mx::astype(g, mx::float32, s), false, s);
  return mx::array(x.shape(), mx::float32, std::make_shared<RmsNormGrad>(s, eps), {x, w, gc});
}

mx::array rms_factor_ops(const mx::array& x, float eps, mx::Stream s) {
  // n = rsqrt(mean(x^2) + eps) with MLX's ops (for the rarely needed weight gradient)
  return mx::rsqrt(mx::add(mx::mean(mx::square(x, s), -1, true, s), mx::array(eps, mx::float32), s), s);
}

}  // namespace

void RmsNorm::eval_cpu(const std::vector<mx::array>& inputs, mx::array& out) {
  const auto& x = inputs[0];
  const auto& w = inputs[1];
  check_rows(x);
  check_rows(w);
  allocate(out);
  auto& enc = mx::cpu::get_command_encoder(stream());
  enc.set_input_array(x);
  enc.set_input_array(w);
  enc.set_output_array(out);
  size_t cols = static_cast<size_t>(x.shape(-1));
  RowShape rs{cols == 0 ? 0 : x.size() / cols, cols, 1, 0};
  enc.dispatch([xp = x.data<float>(), wp = w.data<float>(), yp = out.data<float>(), rs, eps = eps_, t = &table()]() {
    run_rows(rs, [&](size_t r0, size_t r1) { t->rms_fwd(xp, wp, yp, r0, r1, rs.cols, eps); });
  });
}

void RmsNorm::eval_gpu(const std::vector<mx::array>&, mx::array&) {
  throw std::runtime_error("[clinpred kernels] CPU only: MLX's own kernels are used on a GPU");
}

std::vector<mx::array> RmsNorm::vjp(const std::vector<mx::array>& primals, const std::vector<mx::array>& cotangents,
                                    const std::vector<int>& argnums, const std::vector<mx::array>&) {
  const auto& x = primals[0];
  const auto& w = primals[1];
  std::vector<mx::array> out;
  for (int arg : argnums) {
    if (arg == 0) {
      out.push_back(rms_grad(x, w, cotangents[0], eps_, stream()));
    } else {  // dw = sum over rows of g (x n)
      std::vector<int> axes(x.ndim() - 1);
      for (int i = 0; i < x.ndim() - 1; ++i) {
        axes[i] = i;
      }
      auto xn = mx::multiply(x, rms_factor_ops(x, eps_, stream()), stream());
      out.push_back(mx::sum(mx::multiply(cotangents[0], xn, stream()), axes, false, stream()));
    }
  }
  return out;
}

std::vector<mx::array> RmsNorm::jvp(const std::vector<mx::array>& primals, const std::vector<mx::array>& tangents,
                                    const std::vector<int>& argnums) {
  // dy = w * J t with J the Jacobian of x n: the grad primitive with w = 1 and g = t computes it.
  const auto& x = primals[0];
  const auto& w = primals[1];
  std::optional<mx::array> total;
  for (size_t i = 0; i < argnums.size(); ++i) {
    mx::array term = argnums[i] == 0
        ? mx::multiply(w, rms_grad(x, mx::ones_like(w, stream()), tangents[i], eps_, stream()), stream())
        : mx::multiply(mx::multiply(x, rms_factor_ops(x, eps_, stream()), stream()), tangents[i], stream());
    total = total ? mx::add(*total, term, stream()) : term;
  }
  return {*total};
}

std::vector<mx::Shape> RmsNorm::output_shapes(const std::vector<mx::array>& inputs) {
  return {inputs[0].shape()};
}

bool RmsNorm::is_equivalent(const mx::Primitive& other) const {
  return eps_ == static_cast<const RmsNorm&>(other).eps_;
}

void RmsNormGrad::eval_cpu(const std::vector<mx::array>& inputs, mx::array& out) {
  for (const auto& x : inputs) {
    check_rows(x);
  }
  allocate(out);
  auto& enc = mx::cpu::get_command_encoder(stream());
  for (const auto& x : inputs) {
    enc.set_input_array(x);
  }
  enc.set_output_array(out);
  size_t cols = static_cast<size_t>(inputs[0].shape(-1));
  RowShape rs{cols == 0 ? 0 : inputs[0].size() / cols, cols, 1, 0};
  enc.dispatch([xp = inputs[0].data<float>(), wp = inputs[1].data<float>(), gp = inputs[2].data<float>(),
                dp = out.data<float>(), rs, eps = eps_, t = &table()]() {
    run_rows(rs, [&](size_t r0, size_t r1) { t->rms_bwd(xp, wp, gp, dp, r0, r1, rs.cols, eps); });
  });
}

void RmsNormGrad::eval_gpu(const std::vector<mx::array>&, mx::array&) {
  throw std::runtime_error("[clinpred kernels] CPU only: MLX's own kernels are used on a GPU");
}

std::vector<mx::Shape> RmsNormGrad::output_shapes(const std::vector<mx::array>& inputs) {
  return {inputs[0].shape()};
}

bool RmsNormGrad::is_equivalent(const mx::Primitive& other) const {
  return eps_ == static_cast<const RmsNormGrad&>(other).eps_;
}

// ------------------------------------------------------------------ rotary position embedding

mx::array rope(const mx::array& x, const mx::array& table, int dims, bool traditional, bool forward) {
  check_float32(x, "the rope input");
  check_float32(table, "the rope table");
  if (x.ndim() < 2 || dims < 2 || dims % 2 != 0 || dims > x.shape(-1) || table.ndim() != 2 ||
      table.shape(0) != x.shape(-2) || table.shape(1) != dims) {
    std::ostringstream msg;
    msg << "[clinpred kernels] rope needs x (..., T, D), an even dims <= D and a (T, dims) table; got x "
        << x.shape() << ", dims " << dims << ", table " << table.shape();
    throw std::invalid_argument(msg.str());
  }
  auto s = cpu_stream();
  return mx::array(x.shape(), mx::float32, std::make_shared<Rope>(s, dims, traditional, forward),
                   {mx::contiguous(x, false, s), mx::contiguous(table, false, s)});
}

void Rope::eval_cpu(const std::vector<mx::array>& inputs, mx::array& out) {
  const auto& x = inputs[0];
  const auto& tab = inputs[1];
  check_rows(x);
  check_rows(tab);
  allocate(out);
  auto& enc = mx::cpu::get_command_encoder(stream());
  enc.set_input_array(x);
  enc.set_input_array(tab);
  enc.set_output_array(out);
  size_t cols = static_cast<size_t>(x.shape(-1));
  RowShape rs{cols == 0 ? 0 : x.size() / cols, cols, static_cast<size_t>(x.shape(-2)), 0};
  enc.dispatch([xp = x.data<float>(), tp = tab.data<float>(), op = out.data<float>(), rs, dims = dims_,
                traditional = traditional_, forward = forward_, t = &table()]() {
    run_rows(rs, [&](size_t r0, size_t r1) {
      t->rope(xp, tp, op, r0, r1, rs.q_len, rs.cols, static_cast<size_t>(dims), traditional, forward);
    });
  });
}

void Rope::eval_gpu(const std::vector<mx::array>&, mx::array&) {
  throw std::runtime_error("[clinpred kernels] CPU only: MLX's own kernels are used on a GPU");
}

std::vector<mx::array> Rope::vjp(const std::vector<mx::array>& primals, const std::vector<mx::array>& cotangents,
                                 const std::vector<int>& argnums, const std::vector<mx::array>&) {
  // A rotation's transpose is the inverse rotation.
  std::vector<mx::array> out;
  for (int arg : argnums) {
    if (arg == 0) {
      auto g = mx::astype(cotangents[0], mx::float32, stream());
      out.push_back(rope(g, primals[1], dims_, traditional_, !forward_));
    } else {
      out.push_back(mx::zeros_like(primals[1], stream()));
    }
  }
  return out;
}

std::vector<mx::array> Rope::jvp(const std::vector<mx::array>& primals, const std::vector<mx::array>& tangents,
                                 const std::vector<int>& argnums) {
  if (argnums.size() != 1 || argnums[0] != 0) {
    throw std::invalid_argument("[clinpred kernels] the rope table takes no tangent");
  }
  return {rope(mx::astype(tangents[0], mx::float32, stream()), primals[1], dims_, traditional_, forward_)};
}

std::vector<mx::Shape> Rope::output_shapes(const std::vector<mx::array>& inputs) {
  return {inputs[0].shape()};
}

bool Rope::is_equivalent(const mx::Primitive& other) const {
  const auto& o = static_cast<const Rope&>(other);
  return dims_ == o.dims_ && traditional_ == o.traditional_ && forward_ == o.forward_;
}

// ------------------------------------------------------------------ exp (tests, benchmarks)

mx::array vexp(const mx::array& x) {
  check_float32(x, "exp's input");
  auto s = cpu_stream();
  return mx::array(x.shape(), mx::float32, std::make_shared<Exp>(s), {mx::contiguous(x, false, s)});
}

void Exp::eval_cpu(const std::vector<mx::array>& inputs, mx::array& out) {
  const auto& x = inputs[0];
  check_rows(x);
  allocate(out);
  auto& enc = mx::cpu::get_command_encoder(stream());
  enc.set_input_array(x);
  enc.set_output_array(out);
  enc.dispatch([xp = x.data<float>(), yp = out.data<float>(), n = out.size(), t = &table()]() {
    parallel_for(n, kElementGrain, n, [&](size_t i0, size_t i1) { t->exp(xp + i0, yp + i0, i1 - i0); });
  });
}

void Exp::eval_gpu(const std::vector<mx::array>&, mx::array&) {
  throw std::runtime_error("[clinpred kernels] CPU only");
}


}  // namespace clinpred_kernels
