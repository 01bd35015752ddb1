#!/usr/bin/env python3
"""Decode GEMV benchmark: mneme's bf16-weight GEMV beside PyTorch's, same tensors, one process.

Workload (issue #5, decode at batch 1): the projections of one Qwen3-4B-shaped layer (hidden 2560,
32/8 heads of 128, MLP 9728; gate and up fused as mneme stores them), one token (m = 1), bf16
weights, fp32 accumulation.
Peers, on the same device weights:
  torch_linear  torch.nn.functional.linear on a bf16 activation (what a bf16 model's decode
                runs; cuBLAS underneath).
  mneme         kernels/cuda/gemv_bf16.cu on the fp32 activation (rounded to bf16 in registers).
Timing: each timed call launches the projection `--inner` times back to back (as a decode step
queues its kernels), so the per-launch figure is GPU time, not Python/ctypes call latency.
Roofline: each weight byte read once, n*k*2 bytes over the measured HBM read bandwidth. The
whole layer's time is also reported (the decode step is 36 such layers).
Correctness: mneme's output against fp32 math on the same bf16 inputs.

Usage (GPU host): python3 tools/bench/gemv_bench.py --lib .gpu/lib/libmneme_kernels_capi.so [--out result.json]
"""
import argparse
import ctypes
import datetime

import torch

from bench_common import emit, hbm_read_gbps, timed

HIDDEN, HEADS, KV_HEADS, D, INTER = 2560, 32, 8, 128, 9728
SHAPES = [("q", HEADS * D, HIDDEN), ("k", KV_HEADS * D, HIDDEN), ("v", KV_HEADS * D, HIDDEN),
          ("o", HIDDEN, HEADS * D), ("gate_up", 2 * INTER, HIDDEN), ("down", HIDDEN, INTER)]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--lib", required=True)
    ap.add_argument("--rows", type=int, default=1)
    ap.add_argument("--inner", type=int, default=20)
    ap.add_argument("--out")
    a = ap.parse_args()
    lib = ctypes.CDLL(a.lib)
    lib.mneme_gemv_bf16.argtypes = [ctypes.c_void_p] * 3 + [ctypes.c_int64] * 3 + [ctypes.c_int, ctypes.c_void_p]
    gbps = hbm_read_gbps()
    gen = torch.Generator(device="cuda").manual_seed(0)
    stream = torch.cuda.current_stream().cuda_stream
    rows, total = [], {"mneme": 0.0, "torch": 0.0, "bytes": 0}
    for name, n, k in SHAPES:
        w = (torch.randn(n, k, device="cuda", generator=gen) * 0.02).to(torch.bfloat16)
        x = torch.randn(a.rows, k, device="cuda", generator=gen)
        xb = x.to(torch.bfloat16)
        y = torch.empty(a.rows, n, device="cuda")

        args = (x.data_ptr(), w.data_ptr(), y.data_ptr(), a.rows, n, k, 0, stream)

        def mneme_once():
            rc = lib.mneme_gemv_bf16(*args)
            assert rc == 0, rc

        def mneme():
            for _ in range(a.inner):
                lib.mneme_gemv_bf16(*args)

        def torch_linear():
            for _ in range(a.inner):
                torch.nn.functional.linear(xb, w)

        mneme_once()
        want = xb.float() @ w.float().t()
        err = ((y - want).abs().max() / want.abs().max()).item()
        t_m = timed(mneme, warmup=3, reps=30)[0] / a.inner
        t_t = timed(torch_linear, warmup=3, reps=30)[0] / a.inner
        nbytes = n * k * 2
        rows.append({"proj": name, "n": n, "k": k, "mneme_us": round(t_m * 1e3, 2), "torch_us": round(t_t * 1e3, 2),
                     "mneme_pct_of_hbm": round(100 * nbytes / (t_m * 1e-3) / (gbps * 1e9), 1),
                     "torch_pct_of_hbm": round(100 * nbytes / (t_t * 1e-3) / (gbps * 1e9), 1),
                     "max_rel_err": err})
        total["mneme"] += t_m
        total["torch"] += t_t
        total["bytes"] += nbytes
        del w
    result = {"date": datetime.date.today().isoformat(), "gpu": torch.cuda.get_device_name(),
              "torch": torch.__version__, "rows": a.rows, "hbm_read_GBps": round(gbps), "projections": rows,
              "layer_mneme_us": round(total["mneme"] * 1e3, 1), "layer_torch_us": round(total["torch"] * 1e3, 1),
              "layer_bound_us": round(total["bytes"] / (gbps * 1e9) * 1e6, 1)}
    emit(result, a.out)


if __name__ == "__main__":
    main()
