// Kernel: VarlenAttentionKernel, causal GQA attention over packed documents (document encoding),
// bf16 in/out, fp32 accumulation, head_dim 128: the FlashAttention-2 scheme on mma.sync.
//   grid: (query tiles, heads); block: 4 warps. A query tile is 64 rows of one document (the
//   tile table lists them longest-work first so long documents start early); warp w owns rows
//   16w..16w+15 and keeps their Q fragments in registers for the whole loop.
//   Key/value tiles of 64 rows stream through a double-buffered cp.async pipeline; per tile:
//   S = Q K^T (64 mma per warp), masking only on the diagonal tile, an online softmax in the
//   exp2 domain (running max m and sum l per row), P rounded to bf16 straight from the S
//   accumulators into A fragments, O += P V (64 mma per warp, V through ldmatrix.trans).
//   Rows are 256 B in shared memory, 16-byte chunks XOR-swizzled by (row & 7).
// Documents never see each other; positions are the caller's business (RoPE is applied before).
#include <cuda_bf16.h>

#include <algorithm>
#include <vector>

#include "kernels/cuda/launch.h"
#include "kernels/cuda/mma.cuh"

namespace mneme::kernels::cuda {
namespace {

constexpr int kD = 128, kBM = 64, kBN = 64, kThreads = 128;
constexpr int kTileBytes = kBM * kD * 2;  // 16 KiB: one Q, K or V tile

__device__ __forceinline__ uint32_t Swz(int row, int chunk) {
  return static_cast<uint32_t>(row * (kD * 2) + ((chunk ^ (row & 7)) << 4));
}

// Copies rows [row0, row0 + 64) of a [tokens, heads, 128] tensor (head h) into a swizzled tile;
// rows at or past `rows_valid` are zero-filled.
__device__ __forceinline__ void LoadTile(unsigned char* tile, const __nv_bfloat16* base,
                                         int64_t row_stride, int rows_valid, int tid) {
#pragma unroll
  for (int r = 0; r < kBM * (kD / 8) / kThreads; ++r) {
    const int ci = tid + r * kThreads, row = ci / (kD / 8), c = ci % (kD / 8);
    const bool valid = row < rows_valid;
    const __nv_bfloat16* src = valid ? base + row * row_stride + c * 8 : base;
    CpAsync16(SmemAddr(tile) + Swz(row, c), src, valid);
  }
}

__global__ void __launch_bounds__(kThreads)
    VarlenAttentionKernel(const __nv_bfloat16* __restrict__ q, const __nv_bfloat16* __restrict__ k,
                          const __nv_bfloat16* __restrict__ v, __nv_bfloat16* __restrict__ out,
                          const int32_t* __restrict__ cu_seqlens, const int2* __restrict__ tiles,
                          int heads, int kv_heads, float scale_log2) {
  extern __shared__ __align__(128) unsigned char smem[];
  unsigned char* s_q = smem;
  unsigned char* s_k = smem + kTileBytes;          // [2] buffers
  unsigned char* s_v = smem + 3 * kTileBytes;      // [2] buffers
  const int tid = threadIdx.x, lane = tid % 32, warp = tid / 32;
  const int2 tile = tiles[blockIdx.x];
  const int h = blockIdx.y, g = h / (heads / kv_heads);
  const int64_t doc_start = cu_seqlens[tile.x];
  const int len = cu_seqlens[tile.x + 1] - static_cast<int>(doc_start);
  const int q0 = tile.y;
  const int kv_end = min(q0 + kBM, len);  // causal: keys [0, kv_end)
  const int n_tiles = (kv_end + kBN - 1) / kBN;
  const int64_t q_stride = int64_t{heads} * kD, kv_stride = int64_t{kv_heads} * kD;

  LoadTile(s_q, q + (doc_start + q0) * q_stride + int64_t{h} * kD, q_stride, len - q0, tid);
  CpCommit();
  LoadTile(s_k, k + doc_start * kv_stride + int64_t{g} * kD, kv_stride, kv_end, tid);
  LoadTile(s_v, v + doc_start * kv_stride + int64_t{g} * kD, kv_stride, kv_end, tid);
  CpCommit();
  CpWait<1>();
  __syncthreads();
  uint32_t qf[kD / 16][4];  // this warp's 16 query rows as A fragments, one per 16-wide d step
#pragma unroll
  for (int kk = 0; kk < kD / 16; ++kk) {
    const int row = warp * 16 + (lane & 7) + 8 * ((lane >> 3) & 1);
    Ldmatrix4(SmemAddr(s_q) + Swz(row, kk * 2 + (lane >> 4)), qf[kk][0], qf[kk][1], qf[kk][2], qf[kk][3]);
  }

  float o[kD / 8][4] = {};   // O rows (g, g+8) x 128 dims as 16 n8 tiles
  float m[2] = {-INFINITY, -INFINITY}, l[2] = {0.0f, 0.0f};
  const int row_g = q0 + warp * 16 + lane / 4;  // this lane's first query row (document-local)

  for (int j = 0; j < n_tiles; ++j) {
    if (j + 1 < n_tiles) {
      const int k0 = (j + 1) * kBN, buf = (j + 1) & 1;
      LoadTile(s_k + buf * kTileBytes, k + (doc_start + k0) * kv_stride + int64_t{g} * kD, kv_stride, kv_end - k0, tid);
      LoadTile(s_v + buf * kTileBytes, v + (doc_start + k0) * kv_stride + int64_t{g} * kD, kv_stride, kv_end - k0, tid);
      CpCommit();
      CpWait<1>();
    } else {
      CpWait<0>();
    }
    __syncthreads();
    const uint32_t kt = SmemAddr(s_k + (j & 1) * kTileBytes), vt = SmemAddr(s_v + (j & 1) * kTileBytes);

    // S = Q K^T for 64 keys: 8 n8 tiles.
    float s[kBN / 8][4] = {};
#pragma unroll
    for (int kk = 0; kk < kD / 16; ++kk) {
#pragma unroll
      for (int p = 0; p < kBN / 16; ++p) {
        uint32_t b0, b1, b2, b3;
        const int key = p * 16 + (lane & 7) + 8 * (lane >> 4);
        Ldmatrix4(kt + Swz(key, kk * 2 + ((lane >> 3) & 1)), b0, b1, b2, b3);
        Mma(s[2 * p], qf[kk][0], qf[kk][1], qf[kk][2], qf[kk][3], b0, b1);
        Mma(s[2 * p + 1], qf[kk][0], qf[kk][1], qf[kk][2], qf[kk][3], b2, b3);
      }
    }
    // Scale into the exp2 domain; mask the diagonal tile (key > query, or past the document).
    const bool diagonal = j == n_tiles - 1;
#pragma unroll
    for (int n = 0; n < kBN / 8; ++n) {
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        float x = s[n][e] * scale_log2;
        if (diagonal) {
          const int key = j * kBN + n * 8 + 2 * (lane & 3) + (e & 1);
          const int qrow = row_g + 8 * (e >> 1);
          if (key > qrow || key >= len) x = -INFINITY;
        }
        s[n][e] = x;
      }
    }
    // Online softmax per row r (0: row g, 1: row g + 8).
#pragma unroll
    for (int r = 0; r < 2; ++r) {
      float mx = -INFINITY;
#pragma unroll
      for (int n = 0; n < kBN / 8; ++n) mx = fmaxf(mx, fmaxf(s[n][2 * r], s[n][2 * r + 1]));
      mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 1));
      mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 2));
      const float m_new = fmaxf(m[r], mx);
      const float m_use = m_new == -INFINITY ? 0.0f : m_new;  // a row with nothing visible yet
      const float alpha = exp2f(m[r] - m_use);
      float sum = 0.0f;
#pragma unroll
      for (int n = 0; n < kBN / 8; ++n) {
        s[n][2 * r] = exp2f(s[n][2 * r] - m_use);
        s[n][2 * r + 1] = exp2f(s[n][2 * r + 1] - m_use);
        sum += s[n][2 * r] + s[n][2 * r + 1];
      }
      l[r] = l[r] * alpha + sum;  // lane-partial; the quad sums at the end
      m[r] = m_new;
#pragma unroll
      for (int n = 0; n < kD / 8; ++n) {
        o[n][2 * r] *= alpha;
        o[n][2 * r + 1] *= alpha;
      }
    }
    // O += P V: P's C fragments become A fragments (16 keys per step).
#pragma unroll
    for (int kk = 0; kk < kBN / 16; ++kk) {
      const uint32_t a0 = PackBf16(s[2 * kk][0], s[2 * kk][1]);
      const uint32_t a1 = PackBf16(s[2 * kk][2], s[2 * kk][3]);
      const uint32_t a2 = PackBf16(s[2 * kk + 1][0], s[2 * kk + 1][1]);
      const uint32_t a3 = PackBf16(s[2 * kk + 1][2], s[2 * kk + 1][3]);
#pragma unroll
      for (int p = 0; p < kD / 16; ++p) {
        uint32_t b0, b1, b2, b3;
        const int key = kk * 16 + (lane & 7) + 8 * ((lane >> 3) & 1);
        Ldmatrix4Trans(vt + Swz(key, p * 2 + (lane >> 4)), b0, b1, b2, b3);
        Mma(o[2 * p], a0, a1, a2, a3, b0, b1);
        Mma(o[2 * p + 1], a0, a1, a2, a3, b2, b3);
      }
    }
    __syncthreads();  // everyone is done with buffer j & 1 before it is refilled
  }

  // Normalise and store rows inside the document.
#pragma unroll
  for (int r = 0; r < 2; ++r) {
    float sum = l[r];
    sum += __shfl_xor_sync(0xffffffffu, sum, 1);
    sum += __shfl_xor_sync(0xffffffffu, sum, 2);
    const float inv = sum > 0.0f ? 1.0f / sum : 0.0f;
    const int qrow = row_g + 8 * r;
    if (qrow >= len) continue;
    __nv_bfloat16* dst = out + (doc_start + qrow) * q_stride + int64_t{h} * kD + 2 * (lane & 3);
#pragma unroll
    for (int n = 0; n < kD / 8; ++n) {
      *reinterpret_cast<__nv_bfloat162*>(dst + n * 8) =
          __floats2bfloat162_rn(o[n][2 * r] * inv, o[n][2 * r + 1] * inv);
    }
  }
}

}  // namespace

int BuildVarlenTiles(const int32_t* cu_seqlens_host, int docs, int32_t* tiles_host) {
  struct T { int doc, start, work; };
  std::vector<T> all;
  for (int d = 0; d < docs; ++d) {
    const int len = cu_seqlens_host[d + 1] - cu_seqlens_host[d];
    for (int s = 0; s < len; s += kBM) all.push_back({d, s, (std::min(s + kBM, len) + kBN - 1) / kBN});
  }
  // Longest work first (stable, so equal work keeps document order).
  std::stable_sort(all.begin(), all.end(), [](const T& a, const T& b) { return a.work > b.work; });
  if (tiles_host != nullptr) {
    for (size_t i = 0; i < all.size(); ++i) {
      tiles_host[2 * i] = all[i].doc;
      tiles_host[2 * i + 1] = all[i].start;
    }
  }
  return static_cast<int>(all.size());
}

cudaError_t LaunchVarlenAttention(const void* q, const void* k, const void* v, void* out,
                                  const int32_t* cu_seqlens, const int32_t* tiles, int num_tiles,
                                  int heads, int kv_heads, int head_dim, float scale,
                                  cudaStream_t stream) {
  if (head_dim != kD || kv_heads < 1 || heads % kv_heads != 0 || num_tiles < 0) return cudaErrorInvalidValue;
  if (num_tiles == 0) return cudaSuccess;
  const int smem = 5 * kTileBytes;  // Q + 2 x (K, V)
  cudaError_t e = cudaFuncSetAttribute(VarlenAttentionKernel, cudaFuncAttributeMaxDynamicSharedMemorySize, smem);
  if (e != cudaSuccess) return e;
  const dim3 grid(static_cast<unsigned int>(num_tiles), static_cast<unsigned int>(heads));
  VarlenAttentionKernel<<<grid, kThreads, smem, stream>>>(
      static_cast<const __nv_bfloat16*>(q), static_cast<const __nv_bfloat16*>(k),
      static_cast<const __nv_bfloat16*>(v), static_cast<__nv_bfloat16*>(out), cu_seqlens,
      reinterpret_cast<const int2*>(tiles), heads, kv_heads, scale * 1.4426950408889634f);
  return cudaGetLastError();
}

}  // namespace mneme::kernels::cuda
