#!/usr/bin/env python3
"""Routing scan benchmark: mneme's fused bf16 kernel beside its PyTorch peers, same tensors, one process.

Workload (issue #5): C chunks of routing keys K̄r [C, 8 kv heads, 128] bf16, documents of 1..15
chunks (mean 8), a T-token question with router queries q [T, 32 heads, 128] bf16, top-16
documents, dot-product routing (φ = q·k/√128, MSA-SPEC §2).

Peers, all on the same device tensors:
  torch_reference  the reference's formulation: per 16384-chunk tile, a bf16 [8, 4T, n] batched
                   matmul, mean over the 32 heads, max over tokens, per-document amax
                   (scatter_reduce), then topk.
  torch_gqa_summed the same math with the head mean folded into q first (q̃ [T, 1024]), one
                   [C, 1024] x [1024, T] matmul, amax, scatter_reduce, topk: the strongest
                   formulation we could write in PyTorch.
  mneme            q̃ as above (bf16), kernels/cuda/route_bf16.cu (tensor cores, no score
                   matrix) then kernels' bitonic top-k.
Roofline: the keys must be read once: C*1024*2 bytes over the measured HBM read bandwidth
(torch sum over an 8 GiB tensor, as shared/bench/torch_probe.py).
Correctness: each method's top-16 set against the exact top-16 (fp32 scores of the same bf16
inputs); a difference is allowed only where the exact scores tie within bf16 resolution.

Usage (GPU host): python3 tools/bench/route_bench.py --lib .gpu/lib/libmneme_kernels_capi.so \
                      [--chunks 1500000] [--tokens 64] [--out result.json]
"""
import argparse
import ctypes
import datetime
import math

import torch

from bench_common import emit, hbm_read_gbps, timed

HEADS, KV_HEADS, HEAD_DIM, TOP_K, TILE = 32, 8, 128, 16, 16384


def doc_layout(chunks, gen):
    """chunk_doc [C] int64 with documents of 1..15 chunks in order, and the document count."""
    lens = torch.randint(1, 16, (chunks,), generator=gen)
    ends = torch.cumsum(lens, 0)
    n_docs = int(torch.searchsorted(ends, torch.tensor([chunks])).item()) + 1
    chunk_doc = torch.repeat_interleave(torch.arange(n_docs), lens[:n_docs])[:chunks]
    return chunk_doc, n_docs


def torch_reference(q, keys, chunk_doc, n_docs):
    t = q.shape[0]
    qg = q.view(t, KV_HEADS, HEADS // KV_HEADS, HEAD_DIM).permute(1, 2, 0, 3).reshape(KV_HEADS, -1, HEAD_DIM)
    qg = qg * (1.0 / math.sqrt(HEAD_DIM))
    doc = torch.full((n_docs,), float("-inf"), device=q.device, dtype=torch.bfloat16)
    for c0 in range(0, keys.shape[0], TILE):
        k = keys[c0:c0 + TILE].permute(1, 2, 0)                      # [8, 128, n]
        s = torch.bmm(qg, k)                                          # [8, 4T, n] bf16
        s = s.view(KV_HEADS, HEADS // KV_HEADS, t, -1).mean(dim=(0, 1))  # [T, n]
        chunk = s.amax(dim=0)                                         # [n]
        doc.scatter_reduce_(0, chunk_doc[c0:c0 + TILE], chunk, reduce="amax", include_self=True)
    return torch.topk(doc.float(), TOP_K)


def summed_q(q):
    """q̃ [T, 1024] = (1/32) Σ_{h in group g} q[t, h] / √128 (the head mean folded into q)."""
    t = q.shape[0]
    return (q.float().view(t, KV_HEADS, HEADS // KV_HEADS, HEAD_DIM).sum(2) /
            (HEADS * math.sqrt(HEAD_DIM))).reshape(t, KV_HEADS * HEAD_DIM)


def torch_gqa_summed(q_sum_bf16, keys2d, chunk_doc, n_docs):
    s = keys2d @ q_sum_bf16.t()                                       # [C, T] bf16
    chunk = s.amax(dim=1)
    doc = torch.full((n_docs,), float("-inf"), device=s.device, dtype=s.dtype)
    doc.scatter_reduce_(0, chunk_doc, chunk, reduce="amax", include_self=True)
    return torch.topk(doc.float(), TOP_K)


def exact_doc_scores(q_sum_f32, keys2d, chunk_doc, n_docs):
    doc = torch.full((n_docs,), float("-inf"), device=keys2d.device)
    for c0 in range(0, keys2d.shape[0], 262144):
        s = (keys2d[c0:c0 + 262144].float() @ q_sum_f32.t()).amax(dim=1)
        doc.scatter_reduce_(0, chunk_doc[c0:c0 + 262144], s, reduce="amax", include_self=True)
    return doc


def set_check(name, idx, exact, out):
    want = torch.topk(exact, TOP_K)
    got = set(idx.tolist())
    ref = set(want.indices.tolist())
    kth = want.values[-1].item()
    # A miss is acceptable only if the document it chose ties the k-th exact score within bf16
    # resolution (2^-8 relative).
    tol = abs(kth) * 2**-8
    bad = [d for d in got - ref if abs(exact[d].item() - kth) > tol]
    out[name] = {"set_equal": got == ref, "differs": len(got - ref), "differs_beyond_bf16_tie": len(bad)}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--lib", required=True)
    ap.add_argument("--chunks", type=int, default=1_500_000)
    ap.add_argument("--tokens", type=int, default=64)
    ap.add_argument("--out")
    a = ap.parse_args()
    lib = ctypes.CDLL(a.lib)
    lib.mneme_route_bf16.argtypes = [ctypes.c_void_p] * 4 + [ctypes.c_int, ctypes.c_int64, ctypes.c_int,
                                                              ctypes.c_int64, ctypes.c_int, ctypes.c_void_p]
    lib.mneme_topk.argtypes = [ctypes.c_void_p, ctypes.c_int64, ctypes.c_int, ctypes.c_void_p,
                               ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p]
    lib.mneme_topk_workspace_bytes.argtypes = [ctypes.c_int64, ctypes.c_int]
    lib.mneme_topk_workspace_bytes.restype = ctypes.c_size_t

    dev = torch.device("cuda")
    gen = torch.Generator().manual_seed(0)
    chunk_doc_cpu, n_docs = doc_layout(a.chunks, gen)
    chunk_doc = chunk_doc_cpu.to(dev)
    chunk_doc32 = chunk_doc.to(torch.int32)
    torch.manual_seed(1)
    keys = torch.randn(a.chunks, KV_HEADS, HEAD_DIM, device=dev, dtype=torch.bfloat16)
    keys2d = keys.view(a.chunks, KV_HEADS * HEAD_DIM)
    q = torch.randn(a.tokens, HEADS, HEAD_DIM, device=dev, dtype=torch.bfloat16)
    q_sum = summed_q(q)
    q_sum_bf16 = q_sum.to(torch.bfloat16).contiguous()
    sms = lib.mneme_num_sms()
    doc_scores = torch.empty(n_docs, device=dev, dtype=torch.float32)
    top_s = torch.empty(TOP_K, device=dev, dtype=torch.float32)
    top_i = torch.empty(TOP_K, device=dev, dtype=torch.int32)
    ws = torch.empty(lib.mneme_topk_workspace_bytes(n_docs, TOP_K), device=dev, dtype=torch.uint8)

    def mneme_scan():
        stream = torch.cuda.current_stream().cuda_stream
        rc = lib.mneme_route_bf16(q_sum_bf16.data_ptr(), keys2d.data_ptr(), chunk_doc32.data_ptr(),
                                  doc_scores.data_ptr(), a.tokens, a.chunks, KV_HEADS * HEAD_DIM, n_docs,
                                  sms, stream)
        assert rc == 0, f"mneme_route_bf16 failed: cudaError {rc}"

    def mneme_full():
        mneme_scan()
        rc = lib.mneme_topk(doc_scores.data_ptr(), n_docs, TOP_K, top_s.data_ptr(), top_i.data_ptr(),
                            ws.data_ptr(), torch.cuda.current_stream().cuda_stream)
        assert rc == 0, f"mneme_topk failed: cudaError {rc}"

    r = {"date": datetime.date.today().isoformat(), "gpu": torch.cuda.get_device_name(0),
         "torch": torch.__version__, "chunks": a.chunks, "documents": n_docs, "tokens": a.tokens,
         "key_bytes": a.chunks * KV_HEADS * HEAD_DIM * 2}
    r["hbm_read_GBps"] = round(hbm_read_gbps(), 1)
    exact = exact_doc_scores(q_sum, keys2d, chunk_doc, n_docs)
    checks = {}
    mneme_full()
    torch.cuda.synchronize()
    set_check("mneme", top_i.long(), exact, checks)
    # The scan's own scores against exact fp32 (differences come from rounding q̃ to bf16).
    checks["mneme_max_abs_score_err"] = (doc_scores - exact).abs().max().item()
    set_check("torch_gqa_summed", torch_gqa_summed(q_sum_bf16, keys2d, chunk_doc, n_docs).indices, exact, checks)
    set_check("torch_reference", torch_reference(q, keys, chunk_doc, n_docs).indices, exact, checks)
    r["checks"] = checks

    times = {
        "mneme_scan": timed(mneme_scan),
        "mneme_scan_topk": timed(mneme_full),
        "torch_gqa_summed": timed(lambda: torch_gqa_summed(q_sum_bf16, keys2d, chunk_doc, n_docs)),
        "torch_reference": timed(lambda: torch_reference(q, keys, chunk_doc, n_docs), warmup=2, reps=10),
    }
    flops = 2.0 * a.chunks * KV_HEADS * HEAD_DIM * a.tokens
    for name, (med, lo, hi) in times.items():
        r[name] = {"median_ms": round(med, 4), "min_ms": round(lo, 4), "max_ms": round(hi, 4),
                   "key_GBps": round(r["key_bytes"] / med / 1e6, 1),
                   "pct_of_hbm_read": round(100 * r["key_bytes"] / med / 1e6 / r["hbm_read_GBps"], 1),
                   "TFLOPs": round(flops / med / 1e9, 1)}
    r["speedup_vs_torch_reference"] = round(times["torch_reference"][0] / times["mneme_scan_topk"][0], 2)
    r["speedup_vs_torch_gqa_summed"] = round(times["torch_gqa_summed"][0] / times["mneme_scan_topk"][0], 2)
    emit(r, a.out)


if __name__ == "__main__":
    main()
