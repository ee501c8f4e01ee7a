// MLX primitives over clinpred's vectorized CPU kernels; see primitives.h.

#include "primitives.h"

#include <pthread.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <thread>
#include <vector>

#include "mlx/allocator.h"
#include "mlx/backend/cpu/encoder.h"

namespace clinpred_kernels {

// ------------------------------------------------------------------ instruction set

namespace {

bool has_avx512() {
  return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq");
}

bool has_avx2() {
  return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
}

const KernelTable* pick(const std::string& name) {
  if ((name == "auto" || name == "avx512") && has_avx512()) {
    return table_avx512();
  }
  if ((name == "auto" || name == "avx2") && has_avx2()) {
    return table_avx2();
  }
  return nullptr;
}

std::atomic<const KernelTable*> g_table{pick("auto")};

const KernelTable& table() {
  const KernelTable* t = g_table.load();
  if (t == nullptr) {
    throw std::runtime_error("[clinpred kernels] this CPU has neither AVX-512 nor AVX2 + FMA");
  }
  return *t;
}

// ------------------------------------------------------------------ threads
//
// A small pool of persistent workers. A job is split into one contiguous part per thread; the
// calling thread (MLX's CPU stream thread) does part 0. One job at a time: a second caller
// (another stream) runs its job alone. After fork() the child starts with a fresh, empty pool.

struct Pool {
  std::mutex m;
  std::condition_variable wake, done;
  std::vector<std::thread> workers;
  const std::function<void(int)>* job = nullptr;
  unsigned long generation = 0;
  int pending = 0;
  bool stop = false;
  std::mutex busy;
  int wanted = static_cast<int>(std::max(1u, std::min(8u, std::thread::hardware_concurrency())));

  void worker(int index, unsigned long seen) {
    for (;;) {
      const std::function<void(int)>* todo;
      {
        std::unique_lock<std::mutex> lock(m);
        wake.wait(lock, [&] { return stop || generation != seen; });
        if (stop) {
          return;
        }
        seen = generation;
        todo = job;
      }
      (*todo)(index);
      std::lock_guard<std::mutex> lock(m);
      if (--pending == 0) {
        done.notify_one();
      }
    }
  }

  void shutdown() {
    {
      std::lock_guard<std::mutex> lock(m);
      stop = true;
    }
    wake.notify_all();
    for (auto& t : workers) {
      t.join();
    }
    workers.clear();
    stop = false;
  }

  // Runs part(i) for i in [0, parts): part 0 here, the others on workers.
  void run(int parts, const std::function<void(int)>& part) {
    std::unique_lock<std::mutex> guard(busy, std::try_to_lock);
    if (!guard.owns_lock() || parts <= 1) {
      for (int i = 0; i < parts; ++i) {
        part(i);
      }
      return;
    }
    while (static_cast<int>(workers.size()) < parts - 1) {
      int index = static_cast<int>(workers.size()) + 1;
      unsigned long now = generation;  // only run() (holding `busy`) changes it
      workers.emplace_back([this, index, now] { worker(index, now); });
    }
    // Workers beyond `parts` do nothing this time.
    std::function<void(int)> wrapped = [&](int i) {
      if (i < parts) {
        part(i);
      }
    };
    {
      std::lock_guard<std::mutex> lock(m);
      job = &wrapped;
      pending = static_cast<int>(workers.size());
      ++generation;
    }
    wake.notify_all();
    std::exception_ptr error;
    try {
      part(0);
    } catch (...) {
      error = std::current_exception();
    }
    std::unique_lock<std::mutex> lock(m);
    done.wait(lock, [&] { return pending == 0; });
    job = nullptr;
    if (error) {
      std::rethrow_exception(error);
    }
  }
};

Pool* g_pool = new Pool();  // never destroyed: workers may outlive static destruction order

void reset_pool_after_fork() {
  g_pool = new Pool();  // the parent's threads do not exist here; its mutexes may be held
}

const bool g_atfork = [] {
  pthread_atfork(nullptr, nullptr, reset_pool_after_fork);
  return true;
}();

// Below this many floats a job runs on one thread (waking a worker costs a few microseconds).
constexpr size_t kParallelMin = 1 << 15;

// Splits [0, n) into parts of whole `grain`s and runs fn(begin, end) on each.
void parallel_for(size_t n, size_t grain, size_t work, const std::function<void(size_t, size_t)>& fn) {
  int threads = g_pool->wanted;
  size_t blocks = (n + grain - 1) / grain;
  int parts = (work < kParallelMin || threads <= 1) ? 1 : static_cast<int>(std::min<size_t>(threads, blocks));
  if (parts <= 1) {
    if (n > 0) {
      fn(0, n);
    }
    return;
  }
  size_t per = (blocks + parts - 1) / parts * grain;
  g_pool->run(parts, [&](int i) {
    size_t begin = static_cast<size_t>(i) * per;
    size_t end = std::min(n, begin + per);
    if (begin < end) {
      fn(begin, end);
    }
  });
}

// ------------------------------------------------------------------ helpers

mx::Stream cpu_stream() {
  return mx::default_stream(mx::Device(mx::Device::cpu));
}

void check_float32(const mx::array& x, const char* what) {
  if (x.dtype() != mx::float32) {
    std::ostringstream msg;
    msg << "[clinpred kernels] " << what << " must be float32, got " << x.dtype();
    throw std::invalid_argument(msg.str());
  }
}

void check_rows(const mx::array& x) {
  if (!x.flags().row_contiguous || x.data_size() != x.size()) {
    throw std::runtime_error("[clinpred kernels] internal error: input is not row-contiguous");
  }
}

void allocate(mx::array& out) {
  out.set_data(mx::allocator::malloc(out.nbytes()));
}

// Parts of an element-wise job: whole cache lines of floats.
constexpr size_t kElementGrain = 64;

}  // namespace

std::string isa() {
  const KernelTable* t = g_table.load();
  return t == nullptr ? "none" : t->isa;
}

std::string select_isa(const std::string& name) {
  const KernelTable* t = pick(name);
  if (t == nullptr) {
    return "none";
  }
  g_table.store(t);
  return t->isa;
}

int threads() {
  return g_pool->wanted;
}

void set_threads(int n) {
  if (n < 1 || n > 256) {
    throw std::invalid_argument("[clinpred kernels] threads must be between 1 and 256");
  }
  std::lock_guard<std::mutex> guard(g_pool->busy);  // not while a job runs
  g_pool->shutdown();
  g_pool->wanted = n;
}

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

namespace {

struct RowShape {
  size_t rows, cols, q_len, offset;
};

RowShape row_shape(const mx::array& x, bool causal) {
  size_t cols = x.ndim() == 0 ? 1 : static_cast<size_t>(x.shape(-1));
  size_t rows = cols == 0 ? 0 : x.size() / cols;
  size_t q_len = causal ? static_cast<size_t>(x.shape(-2)) : 1;
  return {rows, cols, q_len, causal ? cols - q_len : 0};
}

void run_rows(const RowShape& rs, const std::function<void(size_t, size_t)>& fn) {
  size_t grain = std::max<size_t>(1, 4096 / std::max<size_t>(1, rs.cols));
  parallel_for(rs.rows, grain, rs.rows * rs.cols, fn);
}

}  // namespace

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
