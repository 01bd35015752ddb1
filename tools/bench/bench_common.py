"""Timing shared by the GPU benchmark scripts in tools/bench/ (imported by name: Python puts a
script's own directory on sys.path)."""
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
