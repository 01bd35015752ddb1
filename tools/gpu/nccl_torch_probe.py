#!/usr/bin/env python3
"""GPU host: NCCL point-to-point between two processes on two GPUs, through PyTorch (a peer that
nobody here wrote), to tell an environment problem from one in mneme's NCCL link.

Prints, per message size, the median one-way time of a rank-0 -> rank-1 send (ping-pong / 2) and
the bandwidth. Usage: python3 tools/gpu/nccl_torch_probe.py [--sizes 4096,1048576,67108864]
"""
import argparse
import os
import statistics
import time

import torch
import torch.distributed as dist
import torch.multiprocessing as mp


def worker(rank, sizes, port, repeats):
    torch.cuda.set_device(rank)
    dist.init_process_group("nccl", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=2)
    for size in sizes:
        buf = torch.full((size,), rank + 1, dtype=torch.uint8, device="cuda")
        times = []
        for i in range(repeats + 2):
            torch.cuda.synchronize()
            t0 = time.perf_counter()
            if rank == 0:
                dist.send(buf, 1)
                dist.recv(buf, 1)
            else:
                dist.recv(buf, 0)
                dist.send(buf, 0)
            torch.cuda.synchronize()
            if i >= 2:
                times.append((time.perf_counter() - t0) / 2)
        if rank == 0:
            med = statistics.median(times)
            print(f"torch nccl p2p {size:>10} B: {med * 1e6:9.1f} us one way, {size / med / 1e9:7.2f} GB/s", flush=True)
    dist.destroy_process_group()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="4096,65536,1048576,16777216,67108864")
    ap.add_argument("--repeats", type=int, default=20)
    ap.add_argument("--port", type=int, default=29511)
    a = ap.parse_args()
    sizes = [int(s) for s in a.sizes.split(",")]
    print("torch", torch.__version__, "nccl", torch.cuda.nccl.version(), "gpus", torch.cuda.device_count(), flush=True)
    mp.spawn(worker, args=(sizes, a.port, a.repeats), nprocs=2, join=True)


if __name__ == "__main__":
    main()
