"""Timing shared by the GPU benchmark scripts in tools/bench/ (imported by name: Python puts a
script's own directory on sys.path)."""
import json
import statistics

import torch


def timed(fn, warmup=5, reps=30):
    """CUDA-event times of `reps` calls of fn after `warmup` calls: (median, min, max) in ms."""
    for _ in range(warmup):
        fn()
    torch.cuda.synchronize()
    out = []
    for _ in range(reps):
        s, e = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        s.record()
        fn()
        e.record()
        torch.cuda.synchronize()
        out.append(s.elapsed_time(e))
    return statistics.median(out), min(out), max(out)


def hbm_read_gbps():
    """HBM read bandwidth in GB/s: an fp32-accumulated sum over an 8 GiB fp16 tensor (as
    shared/bench/torch_probe.py measures it)."""
    x = torch.empty(4 * 2**30, dtype=torch.float16, device="cuda").normal_()
    ms, _, _ = timed(lambda: x.sum(dtype=torch.float32), warmup=3, reps=10)
    gbps = x.numel() * 2 / ms / 1e6
    del x
    torch.cuda.empty_cache()
    return gbps


def emit(result, path=None):
    """Prints the result as JSON and, given a path, writes it there too."""
    print(json.dumps(result, indent=1))
    if path:
        with open(path, "w") as f:
            json.dump(result, f, indent=1)
