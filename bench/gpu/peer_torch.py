#!/usr/bin/env python3
"""The peer of bench_qwen3_gpu: PyTorch + transformers' Qwen3MoeForCausalLM with random weights
(initialised on the GPU, bf16) on the same qwen3-30b-a3b shape: decode tokens/s at batch 1, 8,
64 (greedy, KV cache, one token per sequence per step after a `context`-token prompt) and prefill
tokens/s of one `prefill`-token prompt. Prints one line per figure and a JSON summary."""
import argparse
import json
import time

import torch
from transformers import Qwen3MoeConfig, Qwen3MoeForCausalLM


def config(layers):
    return Qwen3MoeConfig(
        vocab_size=151936, hidden_size=2048, intermediate_size=6144, num_hidden_layers=layers,
        num_attention_heads=32, num_key_value_heads=4, head_dim=128, num_experts=128,
        num_experts_per_tok=8, moe_intermediate_size=768, norm_topk_prob=True,
        rms_norm_eps=1e-6, rope_theta=1e6, max_position_embeddings=40960,
        tie_word_embeddings=False, decoder_sparse_step=1, mlp_only_layers=[])


def sync():
    torch.cuda.synchronize()


@torch.inference_mode()
def decode(model, batch, context, steps):
    ids = torch.randint(0, 151936, (batch, context), device="cuda")
    out = model(input_ids=ids, use_cache=True)
    past = out.past_key_values
    nxt = out.logits[:, -1].argmax(-1, keepdim=True)
    for _ in range(2):  # warm-up
        out = model(input_ids=nxt, past_key_values=past, use_cache=True)
        past, nxt = out.past_key_values, out.logits[:, -1].argmax(-1, keepdim=True)
    sync()
    t0 = time.perf_counter()
    for _ in range(steps):
        out = model(input_ids=nxt, past_key_values=past, use_cache=True)
        past, nxt = out.past_key_values, out.logits[:, -1].argmax(-1, keepdim=True)
        nxt.cpu()  # tokens come back every step, as a server's
    sec = time.perf_counter() - t0
    return batch * steps / sec, sec / steps * 1e3


@torch.inference_mode()
def prefill(model, n):
    ids = torch.randint(0, 151936, (1, n), device="cuda")
    best = float("inf")
    for rep in range(3):
        sync()
        t0 = time.perf_counter()
        try:
            out = model(input_ids=ids, use_cache=True, logits_to_keep=1)
        except TypeError:  # transformers before logits_to_keep
            out = model(input_ids=ids, use_cache=True)
        out.logits.argmax(-1).cpu()
        sec = time.perf_counter() - t0
        if rep > 0:
            best = min(best, sec)
    return n / best, best * 1e3


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--layers", type=int, default=48)
    p.add_argument("--batches", default="1,8,64")
    p.add_argument("--context", type=int, default=512)
    p.add_argument("--steps", type=int, default=16)
    p.add_argument("--prefill", type=int, default=2048)
    a = p.parse_args()
    torch.manual_seed(0)
    t0 = time.perf_counter()
    with torch.device("cuda"):
        model = Qwen3MoeForCausalLM._from_config(config(a.layers), torch_dtype=torch.bfloat16)
    model.eval()
    sync()
    n = sum(x.numel() for x in model.parameters())
    print(f"torch {torch.__version__}, {torch.cuda.get_device_name()}: {n / 1e9:.1f} B parameters "
          f"({time.perf_counter() - t0:.1f} s to build)")
    res = {"device": torch.cuda.get_device_name(), "layers": a.layers, "context": a.context,
           "torch": torch.__version__}
    for b in [int(x) for x in a.batches.split(",")]:
        tps, ms = decode(model, b, a.context, a.steps)
        print(f"decode batch {b} (context {a.context}): {ms:.3f} ms/step, {tps:.1f} tokens/s")
        res[f"decode_b{b}_tok_s"] = tps
        res[f"decode_b{b}_ms_step"] = ms
        torch.cuda.empty_cache()
    if a.prefill > 0:
        tps, ms = prefill(model, a.prefill)
        print(f"prefill {a.prefill} tokens: {ms:.1f} ms, {tps:.0f} tokens/s")
        res["prefill_tokens"] = a.prefill
        res["prefill_tok_s"] = tps
    print("JSON " + json.dumps(res))


if __name__ == "__main__":
    main()
