#include "slayer/cuda/spike_kernels.h"

#include "absl/strings/str_cat.h"
#include "slayer/cuda/cuda_check.h"
#include "slayer/cuda/launch.h"

namespace slayer {
namespace cuda {
namespace {

constexpr int kWarp = 32;  // rows per block (one warp, one row per lane)
constexpr int kTile = 32;  // time steps per tile (one bit each in a lane's mask)

__device__ __forceinline__ int64_t Min64(int64_t a, int64_t b) { return a < b ? a : b; }

// One warp, 32 rows. Shared memory: ring[32][ring_size + 1] (the odd pitch
// keeps both the row walk and the coalesced tile copies free of bank
// conflicts), nu[nu_len], bits[32].
// Invariant before the tile [t0, t0 + kTile) is walked: the ring holds u for
// all steps in [t0, loaded), loaded = min(steps, t0 + window) with window =
// kTile + max(nu_len, 1) - 1, plus the refractory additions of the spikes
// before t0. A spike in the tile reaches at most t0 + window - 1 < loaded,
// and ring_size >= window keeps those steps in distinct slots. u values are
// loaded before any addition reaches them, so each u[t] sums in spike order,
// exactly as the CPU reference does.
__global__ void __launch_bounds__(kWarp)
    SpikeForwardTiled(float* __restrict__ u, float* __restrict__ s, int64_t rows,
                      int64_t steps, const float* __restrict__ nu, int nu_len, int ring_size,
                      float theta, float spike_value) {
  SLAYER_DYNAMIC_SHARED(float, smem);
  const int pitch = ring_size + 1;
  const int64_t mask = ring_size - 1;
  float* ring = smem;
  float* s_nu = smem + kWarp * pitch;
  unsigned* s_bits = reinterpret_cast<unsigned*>(s_nu + nu_len);

  const int lane = threadIdx.x;
  const int64_t row0 = static_cast<int64_t>(blockIdx.x) * kWarp;
  const int nrows = static_cast<int>(Min64(kWarp, rows - row0));
  for (int j = lane; j < nu_len; j += kWarp) s_nu[j] = nu[j];

  const int64_t window = kTile + (nu_len > 0 ? nu_len : 1) - 1;
  int64_t loaded = 0;
  int64_t until = Min64(steps, window);
  for (int r = 0; r < nrows; ++r) {
    const float* src = u + (row0 + r) * steps;
    for (int64_t t = loaded + lane; t < until; t += kWarp) ring[r * pitch + (t & mask)] = src[t];
  }
  loaded = until;
  __syncwarp();

  float* mine = ring + lane * pitch;
  for (int64_t t0 = 0; t0 < steps; t0 += kTile) {
    const int tile = static_cast<int>(Min64(kTile, steps - t0));
    unsigned bits = 0;
    if (lane < nrows) {
      for (int tt = 0; tt < tile; ++tt) {
        const int64_t t = t0 + tt;
        if (mine[t & mask] >= theta) {
          bits |= 1u << tt;
          const int reach = static_cast<int>(Min64(nu_len, steps - t));
          for (int j = 0; j < reach; ++j) mine[(t + j) & mask] += s_nu[j];
        }
      }
    }
    s_bits[lane] = bits;
    __syncwarp();
    if (lane < tile) {
      const int64_t t = t0 + lane;
      for (int r = 0; r < nrows; ++r) {
        const int64_t g = (row0 + r) * steps + t;
        u[g] = ring[r * pitch + (t & mask)];
        s[g] = ((s_bits[r] >> lane) & 1u) ? spike_value : 0.0f;
      }
    }
    __syncwarp();  // the slots just stored may be refilled below
    until = Min64(steps, t0 + kTile + window);
    for (int r = 0; r < nrows; ++r) {
      const float* src = u + (row0 + r) * steps;
      for (int64_t t = loaded + lane; t < until; t += kWarp) ring[r * pitch + (t & mask)] = src[t];
    }
    loaded = until;
    __syncwarp();
  }
}

// The reference walk, one thread per row straight on global memory.
__global__ void SpikeForwardPerThread(float* __restrict__ u, float* __restrict__ s,
                                      int64_t rows, int64_t steps,
                                      const float* __restrict__ nu, int64_t nu_len,
                                      float theta, float spike_value) {
  for (int64_t r = GlobalThreadIndex(); r < rows; r += GridStride()) {
    float* ur = u + r * steps;
    float* sr = s + r * steps;
    for (int64_t t = 0; t < steps; ++t) {
      if (ur[t] >= theta) {
        sr[t] = spike_value;
        const int64_t reach = Min64(nu_len, steps - t);
        for (int64_t j = 0; j < reach; ++j) ur[t + j] += nu[j];
      } else {
        sr[t] = 0.0f;
      }
    }
  }
}

// No __restrict__ on grad_s and grad_u: the op may run in place.
__global__ void SpikeBackwardKernel(const float* grad_s, const float* __restrict__ u,
                                    float* grad_u, int64_t n, float theta, float inv_width,
                                    float height) {
  for (int64_t i = GlobalThreadIndex(); i < n; i += GridStride()) {
    grad_u[i] = grad_s[i] * (height * expf(-fabsf(u[i] - theta) * inv_width));
  }
}

int RingSize(int64_t nu_len) {
  const int64_t need = kTile + (nu_len > 0 ? nu_len : 1) - 1;
  int size = kWarp;
  while (size < need) size *= 2;
  return size;
}

}  // namespace

absl::Status LaunchSpikeForward(float* u, float* s, int64_t rows, int64_t steps,
                                const float* nu, int64_t nu_len, float theta, float spike_value,
                                SpikePath path, cudaStream_t stream) {
  if (rows < 0 || steps < 0 || nu_len < 0) {
    return absl::InvalidArgumentError("spike kernel: negative size");
  }
  if (rows == 0 || steps == 0) return absl::OkStatus();
  if (nu_len > 0 && nu == nullptr) {
    return absl::InvalidArgumentError("spike kernel: nu not on the device");
  }
  bool tiled = false;
  size_t smem = 0;
  if (path != SpikePath::kPerThread && nu_len < (int64_t{1} << 20)) {
    const int ring = RingSize(nu_len);
    smem = (static_cast<size_t>(kWarp) * (ring + 1) + static_cast<size_t>(nu_len)) *
               sizeof(float) + kWarp * sizeof(unsigned);
    int device = 0, optin = 0;
    SLAYER_CUDA_RETURN_IF_ERROR(cudaGetDevice(&device));
    SLAYER_CUDA_RETURN_IF_ERROR(
        cudaDeviceGetAttribute(&optin, cudaDevAttrMaxSharedMemoryPerBlockOptin, device));
    tiled = smem <= static_cast<size_t>(optin);
    if (tiled && smem > 48 * 1024) {
      SLAYER_CUDA_RETURN_IF_ERROR(
          cudaFuncSetAttribute(reinterpret_cast<const void*>(&SpikeForwardTiled),
                               cudaFuncAttributeMaxDynamicSharedMemorySize,
                               static_cast<int>(smem)));
    }
  }
  if (path == SpikePath::kTiled && !tiled) {
    return absl::UnimplementedError(absl::StrCat(
        "spike kernel: a refractory kernel of ", nu_len, " taps does not fit shared memory"));
  }
  if (tiled) {
    const int64_t blocks = CeilDiv(rows, kWarp);
    if (blocks > 0x7fffffffLL) return absl::InvalidArgumentError("spike kernel: too many rows");
    SLAYER_CUDA_LAUNCH(SpikeForwardTiled, static_cast<unsigned int>(blocks), kWarp, smem, stream,
                       u, s, rows, steps, nu, static_cast<int>(nu_len), RingSize(nu_len), theta,
                       spike_value);
  } else {
    constexpr int kThreads = 128;
    SLAYER_CUDA_LAUNCH(SpikeForwardPerThread, GridFor(rows, kThreads), kThreads, 0, stream, u, s,
                       rows, steps, nu, nu_len, theta, spike_value);
  }
  return absl::OkStatus();
}

absl::Status LaunchSpikeBackward(const float* grad_s, const float* u, float* grad_u, int64_t n,
                                 float theta, float tau_rho, float scale_rho,
                                 cudaStream_t stream) {
  if (n < 0) return absl::InvalidArgumentError("spike backward kernel: negative size");
  if (n == 0) return absl::OkStatus();
  const float width = tau_rho * theta;
  constexpr int kThreads = 256;
  SLAYER_CUDA_LAUNCH(SpikeBackwardKernel, GridFor(n, kThreads), kThreads, 0, stream, grad_s, u,
                     grad_u, n, theta, 1.0f / width, scale_rho / width);
  return absl::OkStatus();
}

}  // namespace cuda
}  // namespace slayer
