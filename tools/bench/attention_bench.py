#!/usr/bin/env python3
"""Document-encoding attention: mneme's packed causal kernel beside PyTorch's flash-attention varlen.

Workload (issue #5): 32 query / 8 KV heads, head_dim 128, bf16, documents of 64..8192 tokens
packed into one batch (log-uniform lengths, ~64K tokens, fixed seed), causal inside each
document only. Both kernels read the same q/k/v tensors and the same cu_seqlens.
Peer: PyTorch's flash-attention varlen forward (torch.nn.attention.varlen.varlen_attn when
present, else torch.ops.aten._flash_attention_forward), GQA native.
Roofline: causal attention FLOPs = sum over documents of 2 * heads * d * len^2 (QK^T and PV,
half the square), over the time; compared with the peer's rate on the same packing.
Correctness: max |mneme - torch| over max |torch|.

Usage (GPU host): python3 tools/bench/attention_bench.py --lib .gpu/lib/libmneme_kernels_capi.so
"""
import argparse
import ctypes
import datetime
import math

import torch

from bench_common import emit, timed

HEADS, KV_HEADS, D = 32, 8, 128


def torch_varlen():
    """A callable (q, k, v, cu, max_len) -> out using PyTorch's flash varlen kernel, and its name."""
    try:
        import inspect

        from torch.nn.attention.varlen import varlen_attn  # torch >= 2.9
        params = inspect.signature(varlen_attn).parameters
        if "is_causal" in params:
            kw = {"is_causal": True}
        elif "window_size" in params:
            kw = {"window_size": (-1, 0)}  # causal = no look-ahead
        else:
            raise RuntimeError(f"unknown varlen_attn signature {list(params)}")

        def run(q, k, v, cu, max_len):
            return varlen_attn(q, k, v, cu, cu, max_len, max_len, **kw)
        return run, f"torch.nn.attention.varlen.varlen_attn({kw})"
    except Exception:  # noqa: BLE001
        def run(q, k, v, cu, max_len):
            return torch.ops.aten._flash_attention_forward(q, k, v, cu, cu, max_len, max_len, 0.0, True, False)[0]
        return run, "torch.ops.aten._flash_attention_forward"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--lib", required=True)
    ap.add_argument("--tokens", type=int, default=65536)
    ap.add_argument("--out")
    a = ap.parse_args()
    lib = ctypes.CDLL(a.lib)
    lib.mneme_varlen_tiles.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_void_p]
    lib.mneme_varlen_attention.argtypes = [ctypes.c_void_p] * 6 + [ctypes.c_int] * 4 + [ctypes.c_float, ctypes.c_void_p]

    gen = torch.Generator().manual_seed(0)
    lens = []
    while sum(lens) < a.tokens:
        lens.append(int(round(math.exp(torch.empty(1).uniform_(math.log(64), math.log(8192), generator=gen).item()))))
    cu_host = torch.tensor([0] + lens, dtype=torch.int32).cumsum(0).to(torch.int32)
    total, max_len = int(cu_host[-1]), max(lens)
    dev = torch.device("cuda")
    torch.manual_seed(1)
    q = torch.randn(total, HEADS, D, device=dev, dtype=torch.bfloat16)
    k = torch.randn(total, KV_HEADS, D, device=dev, dtype=torch.bfloat16)
    v = torch.randn(total, KV_HEADS, D, device=dev, dtype=torch.bfloat16)
    cu = cu_host.to(dev)
    n_tiles = lib.mneme_varlen_tiles(cu_host.data_ptr(), len(lens), None)
    tiles_host = torch.empty(2 * n_tiles, dtype=torch.int32)
    lib.mneme_varlen_tiles(cu_host.data_ptr(), len(lens), tiles_host.data_ptr())
    tiles = tiles_host.to(dev)
    out = torch.empty_like(q)
    scale = 1.0 / math.sqrt(D)

    def mneme():
        rc = lib.mneme_varlen_attention(q.data_ptr(), k.data_ptr(), v.data_ptr(), out.data_ptr(), cu.data_ptr(),
                                        tiles.data_ptr(), n_tiles, HEADS, KV_HEADS, D, scale,
                                        torch.cuda.current_stream().cuda_stream)
        assert rc == 0, f"mneme_varlen_attention failed: cudaError {rc}"

    peer, peer_name = torch_varlen()
    ref = peer(q, k, v, cu, max_len)
    mneme()
    torch.cuda.synchronize()
    err = ((out.float() - ref.float()).abs().max() / ref.float().abs().max()).item()
    flops = sum(2.0 * HEADS * D * n * n for n in lens)
    r = {"date": datetime.date.today().isoformat(), "gpu": torch.cuda.get_device_name(0), "torch": torch.__version__,
         "peer": peer_name, "documents": len(lens), "tokens": total, "min_len": min(lens), "max_len": max_len,
         "causal_flops": flops, "max_rel_diff_vs_peer": err}
    for name, fn in (("mneme", mneme), ("torch_flash_varlen", lambda: peer(q, k, v, cu, max_len))):
        med, lo, hi = timed(fn)
        r[name] = {"median_ms": round(med, 4), "min_ms": round(lo, 4), "max_ms": round(hi, 4),
                   "TFLOPs": round(flops / med / 1e9, 1), "tokens_per_s": round(total / med * 1e3)}
    r["mneme_over_peer_throughput"] = round(r["torch_flash_varlen"]["median_ms"] / r["mneme"]["median_ms"], 3)
    emit(r, a.out)


if __name__ == "__main__":
    main()
