"""Speed of one training step of the fitted simulator's choice model, in the form
``simulators/components.py`` uses (every item's key projected once, the batch's
utilities as a product and a sum) beside the form it replaced (each row's items
projected, the utilities as a batched matrix product), in the same run, at the known
world's shapes and at ml-100k's (consumption-only: the clicked item and 20 sampled
negatives per row). Both forms' utilities are checked equal first.

    .venv/bin/python benchmarks/fit_speed.py [--steps 200] [--threads 1]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import numpy as np
import torch

# (name, state dims, item dims, items, items per row, batch): the default fits' shapes
SHAPES = [("known world", 70, 32, 500, 5, 2048), ("ml-100k", 70, 32, 1682, 21, 2048)]
HIDDEN = 32


def step_fn(
    s_dim: int, d: int, n: int, k: int, b: int, form: str
) -> tuple[Callable[[], None], Callable[[], torch.Tensor]]:
    torch.manual_seed(0)
    q = torch.nn.Linear(s_dim, HIDDEN)
    v = torch.nn.Linear(d, HIDDEN, bias=False)
    bias = torch.nn.Parameter(torch.zeros(n))
    opt = torch.optim.AdamW([*q.parameters(), *v.parameters(), bias], lr=1e-3)
    emb = torch.randn(n, d)
    x = torch.randn(20_000, s_dim)
    items = torch.randint(0, n, (20_000, k))
    target = torch.randint(0, k, (20_000,))
    rng = np.random.default_rng(0)

    def utilities(idx: torch.Tensor) -> torch.Tensor:
        qb, rows = q(x[idx]), items[idx]
        if form == "reference":
            return torch.einsum("bh,bkh->bk", qb, v(emb[rows])) + bias[rows]
        return (qb[:, None, :] * v(emb)[rows]).sum(-1) + bias[rows]

    def step() -> None:
        idx = torch.as_tensor(rng.integers(0, len(x), b))
        loss = torch.nn.functional.cross_entropy(utilities(idx), target[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()

    first = torch.arange(b)
    return step, lambda: utilities(first).detach()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=200)
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    print("| shapes | reference (ms / step) | used (ms / step) | speed-up |")
    print("|---|---|---|---|")
    for name, s_dim, d, n, k, b in SHAPES:
        ref, ref_u = step_fn(s_dim, d, n, k, b, "reference")
        new, new_u = step_fn(s_dim, d, n, k, b, "used")
        torch.testing.assert_close(new_u(), ref_u(), rtol=1e-5, atol=1e-5)
        times = {}
        for label, fn in (("reference", ref), ("used", new)):
            for _ in range(10):
                fn()
            t0 = time.perf_counter()
            for _ in range(args.steps):
                fn()
            times[label] = (time.perf_counter() - t0) / args.steps * 1000
        print(
            f"| {name} (B={b}, {k} items per row, N={n:,}, d={d}) | {times['reference']:.2f} "
            f"| {times['used']:.2f} | {times['reference'] / times['used']:.2f}x |"
        )


if __name__ == "__main__":
    main()
