"""GPT-2 training-step throughput in PyTorch, the baseline for the GoMLX/XLA
backend (bench/gpu/xlabench): the same model, data shape and optimiser.

Model: GPT-2 (learned positions, pre-LN blocks, tanh-GELU MLP of width 4·d,
LM head tied to wte, GPT-2 initialisation); sizes "tiny" (vocab 4096, context
128, 4 layers, 4 heads, d 128) and "gpt2" (124M: vocab 50257, context 1024,
12 layers, 12 heads, d 768). Step: forward, cross-entropy, backward,
global-norm clip 1, AdamW(lr 3e-4, betas (0.9, 0.95), eps 1e-8, weight decay
0.1 on matrices only), loss.item() every step. fp32 (TF32 off, PyTorch's
default for matmuls; --tf32 allows it); attention through
F.scaled_dot_product_attention.

Run: python3 torch_gpt.py --model tiny --batch 16 --mode eager|compile
Prints one JSON line.
"""
import argparse
import json
import math
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

SIZES = {
    "tiny": dict(vocab=4096, ctx=128, layers=4, heads=4, dim=128),
    "gpt2": dict(vocab=50257, ctx=1024, layers=12, heads=12, dim=768),
}


class Block(nn.Module):
    def __init__(self, dim, heads):
        super().__init__()
        self.heads = heads
        self.ln_1 = nn.LayerNorm(dim)
        self.c_attn = nn.Linear(dim, 3 * dim)
        self.attn_proj = nn.Linear(dim, dim)
        self.ln_2 = nn.LayerNorm(dim)
        self.c_fc = nn.Linear(dim, 4 * dim)
        self.mlp_proj = nn.Linear(4 * dim, dim)

    def attn(self, x):
        B, T, C = x.shape
        q, k, v = self.c_attn(x).split(C, dim=2)
        q = q.view(B, T, self.heads, C // self.heads).transpose(1, 2)  # (B, H, T, hd)
        k = k.view(B, T, self.heads, C // self.heads).transpose(1, 2)
        v = v.view(B, T, self.heads, C // self.heads).transpose(1, 2)
        if hasattr(F, "scaled_dot_product_attention"):
            y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        else:  # PyTorch < 2.0
            att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(C // self.heads))
            mask = torch.ones(T, T, dtype=torch.bool, device=x.device).tril()
            y = F.softmax(att.masked_fill(~mask, float("-inf")), dim=-1) @ v
        return self.attn_proj(y.transpose(1, 2).contiguous().view(B, T, C))

    def forward(self, x):
        x = x + self.attn(self.ln_1(x))
        return x + self.mlp_proj(F.gelu(self.c_fc(self.ln_2(x)), approximate="tanh"))


class GPT(nn.Module):
    def __init__(self, vocab, ctx, layers, heads, dim):
        super().__init__()
        self.wte = nn.Embedding(vocab, dim)
        self.wpe = nn.Embedding(ctx, dim)
        self.h = nn.ModuleList(Block(dim, heads) for _ in range(layers))
        self.ln_f = nn.LayerNorm(dim)
        for name, p in self.named_parameters():
            if name.endswith("bias"):
                nn.init.zeros_(p)
            elif "ln_" in name:
                nn.init.ones_(p)
            elif name.endswith("proj.weight"):
                nn.init.normal_(p, std=0.02 / math.sqrt(2 * layers))
            else:
                nn.init.normal_(p, std=0.02)

    def forward(self, idx, targets):
        T = idx.shape[1]
        x = self.wte(idx) + self.wpe(torch.arange(T, device=idx.device))
        for b in self.h:
            x = b(x)
        logits = self.ln_f(x) @ self.wte.weight.t()
        return F.cross_entropy(logits.view(-1, logits.size(-1)), targets.reshape(-1))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="tiny", choices=sorted(SIZES))
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--mode", default="eager", choices=["eager", "compile"])
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--tf32", action="store_true", help="allow TF32 matmuls (XLA may use them by default)")
    a = ap.parse_args()
    torch.backends.cuda.matmul.allow_tf32 = a.tf32
    torch.backends.cudnn.allow_tf32 = a.tf32
    dev = "cuda" if torch.cuda.is_available() else "cpu"
    torch.manual_seed(0)
    cfg = SIZES[a.model]
    model = GPT(**cfg).to(dev)
    decay = [p for n, p in model.named_parameters() if p.dim() >= 2 and not n.startswith(("wte.", "wpe."))]
    other = [p for n, p in model.named_parameters() if not (p.dim() >= 2 and not n.startswith(("wte.", "wpe.")))]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1}, {"params": other, "weight_decay": 0.0}],
                            lr=3e-4, betas=(0.9, 0.95), eps=1e-8)
    fwd = torch.compile(model) if a.mode == "compile" else model
    B, T, V = a.batch, cfg["ctx"], cfg["vocab"]

    def step():
        data = torch.randint(0, V, (B, T + 1), device=dev)
        loss = fwd(data[:, :-1], data[:, 1:])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        return loss.item()

    t0 = time.perf_counter()
    first = step()
    first_s = time.perf_counter() - t0
    print(f"torch_gpt: {a.model} {a.mode} first step {first_s:.1f}s loss {first:.3f}", file=sys.stderr)
    for _ in range(a.warmup - 1):
        step()
    if dev == "cuda":
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    for _ in range(a.steps):
        last = step()
    if dev == "cuda":
        torch.cuda.synchronize()
    el = time.perf_counter() - t0
    print(json.dumps(dict(
        impl=f"torch-{a.mode}" + ("-tf32" if a.tf32 else ""), device=dev + (":" + torch.cuda.get_device_name() if dev == "cuda" else ""),
        model=a.model, params=sum(p.numel() for p in model.parameters()), batch=B, seq=T, steps=a.steps,
        precision="tf32" if a.tf32 else "fp32",
        first_step_s=first_s, ms_per_step=1000 * el / a.steps, tokens_per_s=B * T * a.steps / el,
        first_loss=first, last_loss=last, description=f"PyTorch {torch.__version__} {a.mode}, " + ("tf32" if a.tf32 else "fp32") + ", " + ("SDPA" if hasattr(F, "scaled_dot_product_attention") else "masked-softmax") + " attention",
        peak_mem_gb=(torch.cuda.max_memory_allocated() / 2**30 if dev == "cuda" else 0))), flush=True)


if __name__ == "__main__":
    main()
