// Kernel: RouteBf16Kernel, the fused routing scan over bf16 routing keys (top-k: topk.cu).
//
// RouteBf16Kernel. S[c, t] = keys[c, :] · q[t, :] on tensor cores (mma.sync m16n8k16, bf16 in,
// fp32 accumulate), then per chunk the max over t and per document the max over its chunks,
// folded into doc_scores with one atomic max per run of same-document chunks in a tile. No score
// matrix leaves registers. Persistent CTAs (one per SM, 8 warps) walk 256-chunk tiles:
//   * q [64 tokens, W] sits in shared memory for the whole kernel (T < 64 is padded with copies
//     of token 0, which cannot change a max);
//   * keys stream through a 3-stage cp.async pipeline of [256 chunks x 64] slices (32 KiB);
//   * warp w owns chunks 32w..32w+31 of the tile (two m16 tiles) and all 64 tokens: per 16-wide
//     k step two ldmatrix.x4 of keys, four of q, sixteen mma; the fragments of step kk+1 are
//     loaded before the mma of step kk (the asm is volatile, so the order is ours);
//   * shared rows are 16-byte-chunk XOR-swizzled by (row & 7) so ldmatrix is conflict-free.
// REQUIRES: 1 <= T <= 64, W % 64 == 0, 64 <= W <= 1024, doc_scores pre-filled with -inf.
#include <cuda_bf16.h>

#include <cfloat>

#include "kernels/cuda/device_util.cuh"
#include "kernels/cuda/launch.h"
#include "kernels/cuda/mma.cuh"

namespace mneme::kernels::cuda {
namespace {

constexpr int kTileC = 256, kTokens = 64, kSlice = 64, kStages = 3, kThreads = 256;
constexpr int kSliceBytes = kTileC * kSlice * 2;  // 32 KiB per stage
constexpr int kWarpRows = kTileC / (kThreads / 32);  // 32 chunks per warp

__global__ void __launch_bounds__(kThreads, 1)
    RouteBf16Kernel(const __nv_bfloat16* __restrict__ q, const __nv_bfloat16* __restrict__ keys,
                    const int32_t* __restrict__ chunk_doc, float* doc_scores, int q_tokens,
                    int64_t chunks, int width) {
  extern __shared__ __align__(128) unsigned char smem[];
  __shared__ float s_max[kTileC];
  unsigned char* s_q = smem;                                   // [64][width] bf16, swizzled
  unsigned char* s_k = smem + size_t{kTokens} * width * 2;     // [kStages][256][64] bf16, swizzled
  const int tid = threadIdx.x, lane = tid % 32, warp = tid / 32;
  const int row_bytes = width * 2, slices = width / kSlice;
  const int64_t tiles = (chunks + kTileC - 1) / kTileC;
  const int64_t my_tiles = blockIdx.x < tiles ? (tiles - 1 - blockIdx.x) / gridDim.x + 1 : 0;
  const int64_t total = my_tiles * slices;

  // q into shared memory (16-byte chunks; padded tokens repeat token 0).
  for (int i = tid; i < kTokens * (width / 8); i += kThreads) {
    const int t = i / (width / 8), j = i % (width / 8);
    const int src_t = t < q_tokens ? t : 0;
    const uint4 v = *reinterpret_cast<const uint4*>(q + int64_t{src_t} * width + j * 8);
    *reinterpret_cast<uint4*>(s_q + t * row_bytes + ((j ^ (t & 7)) << 4)) = v;
  }

  auto load_stage = [&](int64_t i) {
    const int64_t tile = blockIdx.x + (i / slices) * gridDim.x;
    const int ks = static_cast<int>(i % slices);
    unsigned char* stage = s_k + (i % kStages) * kSliceBytes;
#pragma unroll
    for (int r = 0; r < kTileC * 8 / kThreads; ++r) {
      const int ci = tid + r * kThreads, row = ci / 8, j = ci % 8;
      const int64_t c = tile * kTileC + row;
      const bool valid = c < chunks;
      const __nv_bfloat16* src = valid ? keys + c * width + ks * kSlice + j * 8 : keys;
      CpAsync16(SmemAddr(stage + row * 128 + ((j ^ (row & 7)) << 4)), src, valid);
    }
  };

#pragma unroll
  for (int s = 0; s < kStages - 1; ++s) {
    if (s < total) load_stage(s);
    CpCommit();
  }
  float acc[2][8][4];  // [m16 tile][n8 tile][fragment]
#pragma unroll
  for (int m = 0; m < 2; ++m)
#pragma unroll
    for (int n = 0; n < 8; ++n) acc[m][n][0] = acc[m][n][1] = acc[m][n][2] = acc[m][n][3] = 0.0f;

  for (int64_t i = 0; i < total; ++i) {
    CpWait<kStages - 2>();
    __syncthreads();  // stage i landed for everyone; stage i-1 is free to refill
    if (i + kStages - 1 < total) load_stage(i + kStages - 1);
    CpCommit();

    const unsigned char* stage = s_k + (i % kStages) * kSliceBytes;
    const int ks = static_cast<int>(i % slices);
    // Fragments for one 16-wide k step: a[m] for the warp's two m16 tiles, b[p] for token
    // pairs p (tokens 16p..16p+15 = n8 tiles 2p, 2p+1). Double-buffered across steps.
    uint32_t a[2][2][4], b[2][4][4];
    auto load = [&](int kk, int buf) {
#pragma unroll
      for (int m = 0; m < 2; ++m) {
        const int row = warp * kWarpRows + m * 16 + (lane & 7) + 8 * ((lane >> 3) & 1);
        const int j = kk * 2 + (lane >> 4);
        Ldmatrix4(SmemAddr(stage + row * 128 + ((j ^ (row & 7)) << 4)), a[buf][m][0], a[buf][m][1],
                  a[buf][m][2], a[buf][m][3]);
      }
#pragma unroll
      for (int p = 0; p < 4; ++p) {
        const int t = p * 16 + (lane & 7) + 8 * (lane >> 4);
        const int j = ks * (kSlice / 8) + kk * 2 + ((lane >> 3) & 1);
        Ldmatrix4(SmemAddr(s_q + t * row_bytes + ((j ^ (t & 7)) << 4)), b[buf][p][0], b[buf][p][1],
                  b[buf][p][2], b[buf][p][3]);
      }
    };
    load(0, 0);
#pragma unroll
    for (int kk = 0; kk < kSlice / 16; ++kk) {
      const int cur = kk & 1;
      if (kk + 1 < kSlice / 16) load(kk + 1, cur ^ 1);
#pragma unroll
      for (int m = 0; m < 2; ++m) {
#pragma unroll
        for (int p = 0; p < 4; ++p) {
          Mma(acc[m][2 * p], a[cur][m][0], a[cur][m][1], a[cur][m][2], a[cur][m][3], b[cur][p][0], b[cur][p][1]);
          Mma(acc[m][2 * p + 1], a[cur][m][0], a[cur][m][1], a[cur][m][2], a[cur][m][3], b[cur][p][2], b[cur][p][3]);
        }
      }
    }

    if (ks == slices - 1) {  // tile done: chunk maxima, then per-document runs
      const int64_t tile = blockIdx.x + (i / slices) * gridDim.x;
#pragma unroll
      for (int m = 0; m < 2; ++m) {
        float lo = -INFINITY, hi = -INFINITY;
#pragma unroll
        for (int n = 0; n < 8; ++n) {
          lo = fmaxf(lo, fmaxf(acc[m][n][0], acc[m][n][1]));
          hi = fmaxf(hi, fmaxf(acc[m][n][2], acc[m][n][3]));
          acc[m][n][0] = acc[m][n][1] = acc[m][n][2] = acc[m][n][3] = 0.0f;
        }
        lo = fmaxf(lo, __shfl_xor_sync(0xffffffffu, lo, 1));
        lo = fmaxf(lo, __shfl_xor_sync(0xffffffffu, lo, 2));
        hi = fmaxf(hi, __shfl_xor_sync(0xffffffffu, hi, 1));
        hi = fmaxf(hi, __shfl_xor_sync(0xffffffffu, hi, 2));
        if ((lane & 3) == 0) {
          s_max[warp * kWarpRows + m * 16 + lane / 4] = lo;
          s_max[warp * kWarpRows + m * 16 + 8 + lane / 4] = hi;
        }
      }
      __syncthreads();
      if (tid < kTileC) {
        const int64_t c = tile * kTileC + tid;
        if (c < chunks) {
          const int32_t d = chunk_doc[c];
          if (tid == 0 || chunk_doc[c - 1] != d) {  // head of a run inside this tile
            float m = s_max[tid];
            for (int u = tid + 1; u < kTileC && tile * kTileC + u < chunks && chunk_doc[tile * kTileC + u] == d; ++u) {
              m = fmaxf(m, s_max[u]);
            }
            AtomicMaxFloat(doc_scores + d, m);
          }
        }
      }
    }
  }
  CpWait<0>();
}

}  // namespace

size_t RouteBf16SharedBytes(int width) { return size_t{kTokens} * width * 2 + size_t{kStages} * kSliceBytes; }

cudaError_t LaunchRouteBf16(const void* q, const void* keys, const int32_t* chunk_doc,
                            float* doc_scores, int q_tokens, int64_t chunks, int width,
                            int64_t num_docs, int num_sms, cudaStream_t stream, bool init) {
  if (q_tokens < 1 || q_tokens > kTokens || width % kSlice != 0 || width < kSlice || width > 1024) {
    return cudaErrorInvalidValue;
  }
  if (init && num_docs > 0) {
    LaunchFill(doc_scores, num_docs, -INFINITY, stream);
  }
  if (chunks == 0) return cudaGetLastError();
  const size_t smem = RouteBf16SharedBytes(width);
  cudaError_t e = cudaFuncSetAttribute(RouteBf16Kernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                       static_cast<int>(smem));
  if (e != cudaSuccess) return e;
  const int64_t tiles = (chunks + kTileC - 1) / kTileC;
  const unsigned int grid = static_cast<unsigned int>(tiles < num_sms ? tiles : num_sms);
  RouteBf16Kernel<<<grid, kThreads, smem, stream>>>(static_cast<const __nv_bfloat16*>(q),
                                                    static_cast<const __nv_bfloat16*>(keys),
                                                    chunk_doc, doc_scores, q_tokens, chunks, width);
  return cudaGetLastError();
}

}  // namespace mneme::kernels::cuda
