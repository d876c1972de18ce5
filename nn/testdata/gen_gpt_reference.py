"""Writes gpt_reference.json: a tiny GPT-2 computed by PyTorch in float64 —
its weights (Hugging Face GPT-2 names, Conv1D layout (in, out)), a batch,
the logits, the mean cross-entropy and the gradient of every parameter.
nn's TestGPTMatchesPyTorch loads it and compares.

Run from the repository root: /usr/bin/python3 nn/testdata/gen_gpt_reference.py
"""
import json
import math
import os

import torch
import torch.nn.functional as F

VOCAB, CTX, LAYERS, HEADS, DIM = 32, 8, 2, 2, 16
B, T = 2, 7
IGNORE = -1

torch.manual_seed(1234)
dt = torch.float64


def randn(*shape, std=0.3):
    return (torch.randn(*shape, dtype=dt) * std).requires_grad_()


# Larger-than-init weights so that every part of the network matters.
P = {"wte.weight": randn(VOCAB, DIM, std=0.5), "wpe.weight": randn(CTX, DIM, std=0.5)}
for i in range(LAYERS):
    h = "h.%d." % i
    P[h + "ln_1.weight"] = (1 + torch.randn(DIM, dtype=dt) * 0.2).requires_grad_()
    P[h + "ln_1.bias"] = randn(DIM, std=0.1)
    P[h + "attn.c_attn.weight"] = randn(DIM, 3 * DIM)
    P[h + "attn.c_attn.bias"] = randn(3 * DIM, std=0.1)
    P[h + "attn.c_proj.weight"] = randn(DIM, DIM)
    P[h + "attn.c_proj.bias"] = randn(DIM, std=0.1)
    P[h + "ln_2.weight"] = (1 + torch.randn(DIM, dtype=dt) * 0.2).requires_grad_()
    P[h + "ln_2.bias"] = randn(DIM, std=0.1)
    P[h + "mlp.c_fc.weight"] = randn(DIM, 4 * DIM)
    P[h + "mlp.c_fc.bias"] = randn(4 * DIM, std=0.1)
    P[h + "mlp.c_proj.weight"] = randn(4 * DIM, DIM)
    P[h + "mlp.c_proj.bias"] = randn(DIM, std=0.1)
P["ln_f.weight"] = (1 + torch.randn(DIM, dtype=dt) * 0.2).requires_grad_()
P["ln_f.bias"] = randn(DIM, std=0.1)

ids = torch.randint(0, VOCAB, (B, T))
targets = torch.randint(0, VOCAB, (B, T))
targets[0, 2] = IGNORE


def forward(ids):
    x = P["wte.weight"][ids] + P["wpe.weight"][:T]
    mask = torch.tril(torch.ones(T, T, dtype=torch.bool))
    for i in range(LAYERS):
        h = "h.%d." % i
        a = F.layer_norm(x, (DIM,), P[h + "ln_1.weight"], P[h + "ln_1.bias"], 1e-5)
        q, k, v = (a @ P[h + "attn.c_attn.weight"] + P[h + "attn.c_attn.bias"]).split(DIM, dim=2)
        q, k, v = [z.view(B, T, HEADS, DIM // HEADS).transpose(1, 2) for z in (q, k, v)]
        att = (q @ k.transpose(-2, -1)) / math.sqrt(DIM // HEADS)
        att = F.softmax(att.masked_fill(~mask, float("-inf")), dim=-1)
        y = (att @ v).transpose(1, 2).reshape(B, T, DIM)
        x = x + y @ P[h + "attn.c_proj.weight"] + P[h + "attn.c_proj.bias"]
        m = F.layer_norm(x, (DIM,), P[h + "ln_2.weight"], P[h + "ln_2.bias"], 1e-5)
        m = F.gelu(m @ P[h + "mlp.c_fc.weight"] + P[h + "mlp.c_fc.bias"], approximate="tanh")
        x = x + m @ P[h + "mlp.c_proj.weight"] + P[h + "mlp.c_proj.bias"]
    x = F.layer_norm(x, (DIM,), P["ln_f.weight"], P["ln_f.bias"], 1e-5)
    return x @ P["wte.weight"].t()


logits = forward(ids)
loss = F.cross_entropy(logits.reshape(-1, VOCAB), targets.reshape(-1), ignore_index=IGNORE)
loss.backward()

flat = lambda t: [float(v) for v in t.detach().reshape(-1)]
out = {
    "config": {"Vocab": VOCAB, "Ctx": CTX, "Layers": LAYERS, "Heads": HEADS, "Dim": DIM},
    "batch": B, "seq": T, "ignore": IGNORE,
    "ids": [int(v) for v in ids.reshape(-1)],
    "targets": [int(v) for v in targets.reshape(-1)],
    "loss": float(loss),
    "logits": flat(logits),
    "params": {k: {"shape": list(v.shape), "value": flat(v), "grad": flat(v.grad)} for k, v in P.items()},
    "torch": torch.__version__,
}
path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "gpt_reference.json")
with open(path, "w") as f:
    json.dump(out, f)
print("wrote", path, "loss", float(loss))
