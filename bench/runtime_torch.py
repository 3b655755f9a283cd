"""PyTorch eager inference of a Distillery checkpoint (the Python side of bench/runtime.mjs): single-row latency and
batch-256 throughput on pre-normalised inputs, under torch.inference_mode. Prints JSON.

    node scripts/python.js bench/runtime_torch.py CHECKPOINT [--threads 1] [--seconds 1.5]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import torch

from distillery.checkpoints import load_checkpoint

parser = argparse.ArgumentParser()
parser.add_argument("checkpoint")
parser.add_argument("--threads", type=int, default=1)
parser.add_argument("--seconds", type=float, default=1.5)
args = parser.parse_args()
torch.set_num_threads(args.threads)
model = load_checkpoint(args.checkpoint, torch.device("cpu")).module.eval()
shape = [784]
generator = torch.Generator().manual_seed(0)
row = torch.randn(1, *shape, generator=generator)
batch = torch.randn(256, *shape, generator=generator)
result = {"threads": torch.get_num_threads(), "torch": torch.__version__}
with torch.inference_mode():
    for _ in range(200):
        model(row)
    times = []
    deadline = time.perf_counter() + args.seconds
    while time.perf_counter() < deadline or len(times) < 200:
        started = time.perf_counter()
        model(row).argmax(1)
        times.append(time.perf_counter() - started)
    result["single"] = {"p50Us": 1e6 * statistics.median(times), "meanUs": 1e6 * statistics.fmean(times), "runs": len(times)}
    for _ in range(20):
        model(batch)
    runs, started = 0, time.perf_counter()
    while runs < 20 or time.perf_counter() - started < args.seconds:
        model(batch).argmax(1)
        runs += 1
    elapsed = time.perf_counter() - started
    result["batch256"] = {"rowsPerSecond": runs * 256 / elapsed, "msPerBatch": 1e3 * elapsed / runs, "runs": runs}
print(json.dumps(result))
