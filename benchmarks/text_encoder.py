"""Encoding new titles in the runtime: the bundle's torch-free encoder (ONNX graph +
``tokenizers``, onnxruntime) beside the transformers encoder it was exported from, in
the same run, same thread count.

Measures, for all-MiniLM-L6-v2 and the ml-100k titles:

- latency of one title (``--single`` requests, each a different title): p50 and p99;
- throughput for a batch of 1,000 titles (median of ``--runs``): titles/second;
- the largest difference between the two encoders' vectors on those 1,000 titles.

    .venv/bin/python benchmarks/text_encoder.py [--threads 1] [--single 300] [--runs 3]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable, Sequence

import numpy as np
import torch

from ltvrec.encoders import TransformerTextEncoder
from ltvrec.interactions import load
from ltvrec.serving.text import BundleTextEncoder, write_text_encoder


def latencies(encode: Callable[[Sequence[str]], object], titles: list[str]) -> np.ndarray:
    encode(titles[:1])  # warm-up
    out = []
    for t in titles:
        start = time.perf_counter()
        encode([t])
        out.append(time.perf_counter() - start)
    return np.array(out) * 1000.0


def throughput(encode: Callable[[Sequence[str]], object], titles: list[str], runs: int) -> float:
    encode(titles)
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        encode(titles)
        times.append(time.perf_counter() - start)
    return len(titles) / statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--single", type=int, default=300)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    titles = load("ml-100k").catalog.texts
    batch = titles[:1000]
    single = titles[1000 : 1000 + args.single]
    torch_enc = TransformerTextEncoder(batch_size=64, num_threads=args.threads)
    folder = tempfile.mkdtemp()
    start = time.perf_counter()
    write_text_encoder(folder, torch_enc)
    export_s = time.perf_counter() - start
    onnx_enc = BundleTextEncoder(folder, threads=args.threads)

    def with_torch(texts: Sequence[str]) -> np.ndarray:
        return torch_enc.encode(texts).embeddings

    def with_onnx(texts: Sequence[str]) -> np.ndarray:
        return onnx_enc.raw(texts)

    diff = float(np.abs(with_torch(batch) - with_onnx(batch)).max())
    print(
        f"all-MiniLM-L6-v2, {args.threads} thread(s); export to ONNX {export_s:.1f} s; "
        f"largest difference on 1,000 titles {diff:.2e}"
    )
    print(f"{'encoder':<34} {'1 title p50':>12} {'p99':>9} {'1,000 titles/s':>15}")
    for name, fn in (
        ("runtime (onnxruntime + tokenizers)", with_onnx),
        ("transformers (torch eager)", with_torch),
    ):
        lat = latencies(fn, single)
        rate = throughput(fn, batch, args.runs)
        p50, p99 = np.percentile(lat, [50, 99])
        print(f"{name:<34} {p50:>9.2f} ms {p99:>6.2f} ms {rate:>15,.0f}")


if __name__ == "__main__":
    main()
