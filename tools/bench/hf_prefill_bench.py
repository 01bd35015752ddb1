#!/usr/bin/env python3
"""The peer and the roofline of mneme's end-to-end encoding benchmark (issue #5), on the GPU host.

Peer: Hugging Face transformers' dense prefill of a Qwen3 model with Qwen3-4B's shape (random
bf16 weights, SDPA attention), 4096-token sequences, batch 1, no KV cache kept: tokens/s.
Roofline: the measured bf16 matrix rate (torch.matmul of 8192 x 8192 bf16 matrices) and the
prefill's GEMM FLOPs per token (2 x projection parameters), so both rates are comparable to
`mneme bench memory`'s encode figure.

Usage: python3 tools/bench/hf_prefill_bench.py [--tokens 4096] [--out result.json]
"""
import argparse
import datetime

import torch
import transformers

from bench_common import emit, timed


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tokens", type=int, default=4096)
    ap.add_argument("--out")
    a = ap.parse_args()
    cfg = transformers.Qwen3Config(vocab_size=151936, hidden_size=2560, intermediate_size=9728,
                                   num_hidden_layers=36, num_attention_heads=32, num_key_value_heads=8,
                                   head_dim=128, max_position_embeddings=40960, tie_word_embeddings=True)
    cfg._attn_implementation = "sdpa"
    torch.manual_seed(0)
    with torch.device("cuda"):
        model = transformers.Qwen3ForCausalLM(cfg).to(torch.bfloat16).eval()
    ids = torch.randint(0, cfg.vocab_size, (1, a.tokens), device="cuda")
    # The encoder's work: the transformer body (the LM head is not part of encoding).
    body = model.model

    def prefill():
        with torch.no_grad():
            body(input_ids=ids, use_cache=False)

    ms = timed(prefill, warmup=3, reps=10)[0]
    proj = sum(p.numel() for n, p in body.named_parameters() if p.dim() == 2 and "embed" not in n)
    x = torch.randn(8192, 8192, device="cuda", dtype=torch.bfloat16)
    mm_ms = timed(lambda: x @ x, warmup=5, reps=20)[0]
    mm_rate = 2 * 8192**3 / mm_ms / 1e9  # TFLOP/s
    r = {"date": datetime.date.today().isoformat(), "gpu": torch.cuda.get_device_name(0),
         "torch": torch.__version__, "transformers": transformers.__version__, "tokens": a.tokens,
         "hf_prefill_ms": round(ms, 2), "hf_prefill_tokens_per_s": round(a.tokens / ms * 1e3),
         "projection_params": proj, "gemm_flop_per_token": 2 * proj,
         "bf16_matmul_TFLOPs_measured": round(mm_rate, 1),
         "hf_gemm_TFLOPs_effective": round(2 * proj * a.tokens / ms / 1e9, 1)}
    emit(r, a.out)


if __name__ == "__main__":
    main()
