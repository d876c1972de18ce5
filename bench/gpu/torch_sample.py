"""KV-cache sampling throughput in PyTorch, the baseline for
`xlabench -mode sample` (xla.Sampler): the model of torch_gpt.py, the same
batch, prompt length and number of new tokens.

A plain loop, as one would write it: the prompts (random, all the same
length) run through the model once, filling a preallocated key/value cache
(layers, B, H, P + new - 1, hd); then each step feeds one token per row,
writes its keys and values into the cache, attends over the cached
positions so far (F.scaled_dot_product_attention on a slice of the cache),
and draws the next token from softmax(logits / temperature) with
torch.multinomial, keeping its log-probability. Tokens stay on the device
until the call ends, as in the Go benchmark (no EOS stop). fp32 (TF32 off;
--tf32 allows it), no gradients.

Run: python3 torch_sample.py --model gpt2 --batch 64 --new 128 --prompt 16
Prints one JSON line with the fields of xlabench -mode sample.
"""
import argparse
import json
import math
import os
import sys
import time

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from torch_gpt import GPT, SIZES  # noqa: E402  (the same model definition)

HAVE_SDPA = hasattr(F, "scaled_dot_product_attention")


def attention(q, k, v, causal):
    """q (B, H, Tq, hd), k, v (B, H, Tk, hd) -> (B, H, Tq, hd)."""
    if HAVE_SDPA:
        return F.scaled_dot_product_attention(q, k, v, is_causal=causal)
    att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(q.shape[-1]))
    if causal:
        T = q.shape[2]
        mask = torch.ones(T, T, dtype=torch.bool, device=q.device).tril()
        att = att.masked_fill(~mask, float("-inf"))
    return F.softmax(att, dim=-1) @ v


def heads(blk, x):
    """x (B, T, C) -> q, k, v (B, H, T, hd) through the block's c_attn."""
    B, T, C = x.shape
    q, k, v = blk.c_attn(x).split(C, dim=2)
    return [t.view(B, T, blk.heads, C // blk.heads).transpose(1, 2) for t in (q, k, v)]


def block_out(blk, x, y):
    """The rest of a block after attention: projection, residual, MLP."""
    B, T, C = x.shape
    x = x + blk.attn_proj(y.transpose(1, 2).reshape(B, T, C))
    return x + blk.mlp_proj(F.gelu(blk.c_fc(blk.ln_2(x)), approximate="tanh"))


@torch.no_grad()
def sample(model, prompts, new, temperature, gen):
    """Continues prompts (B, P) by new tokens; returns tokens and log-probs (B, new)."""
    B, P = prompts.shape
    dev = prompts.device
    L, C, H = len(model.h), model.wte.weight.shape[1], model.h[0].heads
    tmax = P + new - 1
    kc = torch.empty(L, B, H, tmax, C // H, device=dev)
    vc = torch.empty_like(kc)
    x = model.wte(prompts) + model.wpe(torch.arange(P, device=dev))  # (B, P, C)
    for l, blk in enumerate(model.h):
        q, k, v = heads(blk, blk.ln_1(x))
        kc[l, :, :, :P] = k
        vc[l, :, :, :P] = v
        x = block_out(blk, x, attention(q, k, v, True))
    logits = model.ln_f(x[:, -1]) @ model.wte.weight.t()  # (B, V)
    toks, lps = [], []
    for step in range(new):
        logp = F.log_softmax(logits / temperature, dim=-1)
        tok = torch.multinomial(logp.exp(), 1, generator=gen)  # (B, 1)
        toks.append(tok)
        lps.append(logp.gather(1, tok))
        if step == new - 1:
            break
        pos = P + step
        x = model.wte(tok) + model.wpe.weight[pos]  # (B, 1, C)
        for l, blk in enumerate(model.h):
            q, k, v = heads(blk, blk.ln_1(x))  # (B, H, 1, hd)
            kc[l, :, :, pos:pos + 1] = k
            vc[l, :, :, pos:pos + 1] = v
            x = block_out(blk, x, attention(q, kc[l, :, :, :pos + 1], vc[l, :, :, :pos + 1], False))
        logits = model.ln_f(x[:, 0]) @ model.wte.weight.t()
    return torch.cat(toks, 1), torch.cat(lps, 1)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="tiny", choices=sorted(SIZES))
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--prompt", type=int, default=16, help="prompt tokens per row")
    ap.add_argument("--new", type=int, default=128, help="new tokens per row")
    ap.add_argument("--calls", type=int, default=3, help="timed calls")
    ap.add_argument("--warmup", type=int, default=1, help="untimed calls first")
    ap.add_argument("--temperature", type=float, default=1.0)
    ap.add_argument("--tf32", action="store_true", help="allow TF32 matmuls")
    a = ap.parse_args()
    torch.backends.cuda.matmul.allow_tf32 = a.tf32
    torch.backends.cudnn.allow_tf32 = a.tf32
    dev = "cuda" if torch.cuda.is_available() else "cpu"
    torch.manual_seed(0)
    cfg = SIZES[a.model]
    if a.prompt + a.new - 1 > cfg["ctx"]:
        sys.exit(f"torch_sample: prompt {a.prompt} + new {a.new} tokens exceed the model's {cfg['ctx']} positions")
    model = GPT(**cfg).to(dev).eval()
    prompts = torch.randint(0, cfg["vocab"], (a.batch, a.prompt), device=dev)
    gen = torch.Generator(device=dev)
    gen.manual_seed(5)

    def call():
        toks, lps = sample(model, prompts, a.new, a.temperature, gen)
        return toks.cpu(), lps.cpu()

    t0 = time.perf_counter()
    toks, lps = call()
    first_s = time.perf_counter() - t0
    print(f"torch_sample: {a.model} first call {first_s:.2f}s, row 0 starts {toks[0, :8].tolist()}, "
          f"mean log-prob {lps.mean().item():.3f}", file=sys.stderr)
    for _ in range(a.warmup - 1):
        call()
    if dev == "cuda":
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    for _ in range(a.calls):
        call()
    el = time.perf_counter() - t0
    prec = "tf32" if a.tf32 else "fp32"
    print(json.dumps(dict(
        impl="torch-eager" + ("-tf32" if a.tf32 else ""), mode="sample",
        device=dev + (":" + torch.cuda.get_device_name() if dev == "cuda" else ""),
        model=a.model, params=sum(p.numel() for p in model.parameters()), batch=a.batch, prompt=a.prompt,
        new_tokens=a.new, calls=a.calls, precision=prec, first_call_s=first_s,
        ms_per_call=1000 * el / a.calls, ms_per_token=1000 * el / a.calls / a.new,
        tokens_per_s=a.batch * a.new * a.calls / el,
        description=f"PyTorch {torch.__version__} eager, {prec}, KV cache, "
                    + ("SDPA" if HAVE_SDPA else "masked-softmax") + " attention, torch.multinomial",
        peak_mem_gb=(torch.cuda.max_memory_allocated() / 2**30 if dev == "cuda" else 0))), flush=True)


if __name__ == "__main__":
    main()
