// The instruction set in use, the worker threads, helpers; see runtime.h and primitives.h.

#include "runtime.h"

#include <pthread.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "mlx/allocator.h"
#include "primitives.h"

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
  std::exception_ptr worker_error;  // the first exception a worker raised in the current job
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
      std::exception_ptr failed;
      try {
        (*todo)(index);
      } catch (...) {
        failed = std::current_exception();
      }
      std::lock_guard<std::mutex> lock(m);
      if (failed && !worker_error) {
        worker_error = failed;
      }
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
    if (!error) {
      error = std::exchange(worker_error, nullptr);
    }
    worker_error = nullptr;
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

}  // namespace

namespace detail {

const KernelTable& table() {
  const KernelTable* t = g_table.load();
  if (t == nullptr) {
    throw std::runtime_error("[clinpred kernels] this CPU has neither AVX-512 nor AVX2 + FMA");
  }
  return *t;
}

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

}  // namespace detail

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

}  // namespace clinpred_kernels
