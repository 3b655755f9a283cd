"""PyTorch eager inference of a Distillery checkpoint (the Python side of bench/runtime.mjs): single-row latency and
batch-256 throughput on pre-normalised inputs, under torch.inference_mode, in float32 and under bf16 autocast. Prints JSON.

    node scripts/python.js bench/runtime_torch.py CHECKPOINT [--threads 1] [--seconds 1.5]

The network is plain PyTorch: the checkpoint's model config (an mlp) rebuilt here (common.plain_mlp) and its weights
read with torch.load(weights_only=True) — no engine code in the timed path. Before timing, its outputs are checked
against the engine's own, api.predict on the same random rows ("parityMaxAbsDiff"; it fails above 1e-4).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common
from distillery import api

parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
parser.add_argument("checkpoint")
parser.add_argument("--threads", type=int, default=1)
parser.add_argument("--seconds", type=float, default=1.5)
args = parser.parse_args()
torch.set_num_threads(args.threads)

# The checkpoint: a state_dict with the JSON config that rebuilds its model (python/distillery/checkpoints.py).
payload = torch.load(args.checkpoint, map_location="cpu", weights_only=True)
if "state" not in payload or payload["task"] != "classification":
    raise SystemExit(f"{args.checkpoint}: runtime_torch.py rebuilds single-model classification checkpoints only")
shape, num_outputs = list(payload["inputShape"]), int(payload["numOutputs"])
model = common.plain_mlp(json.loads(payload["model"]), shape, num_outputs)
model.load_state_dict(payload["state"])  # strict: the same layers, in the same places, as the engine's
model.eval()

# Parity with the engine (api.predict) on random rows, unnormalised on both sides (normalize "none").
generator = torch.Generator().manual_seed(0)
with tempfile.TemporaryDirectory() as folder:
    rows = torch.randn(64, *shape, generator=generator)
    path = os.path.join(folder, "rows.npz")
    np.savez(path, x=rows.numpy(), y=np.arange(64) % num_outputs)
    source = common.file_source(path)
    engine_outputs, _ = api.predict(
        args.checkpoint,
        {
            "task": "classification",
            "train": source,
            "test": source,
            "normalize": "none",
            "numClasses": num_outputs,
            "preprocess": None,
        },
        "test",
        device="cpu",
    )
with torch.inference_mode():
    parity = float(np.abs(model(rows).numpy() - engine_outputs).max())
if parity > 1e-4:
    raise SystemExit(f"the plain-PyTorch rebuild differs from the engine's outputs by {parity:.3g}")

row = torch.randn(1, *shape, generator=generator)
batch = torch.randn(256, *shape, generator=generator)
result = {"threads": torch.get_num_threads(), "torch": torch.__version__, "parityMaxAbsDiff": parity}


def batch_throughput() -> dict[str, float]:
    """Rows/s of the model on the 256-row batch, after 20 warm-up runs, for at least ``args.seconds``."""
    for _ in range(20):
        model(batch)
    runs, started = 0, time.perf_counter()
    while runs < 20 or time.perf_counter() - started < args.seconds:
        model(batch).argmax(1)
        runs += 1
    elapsed = time.perf_counter() - started
    return {"rowsPerSecond": runs * 256 / elapsed, "msPerBatch": 1e3 * elapsed / runs, "runs": runs}


with torch.inference_mode():
    for _ in range(200):
        model(row)
    times = []
    deadline = time.perf_counter() + args.seconds
    while time.perf_counter() < deadline or len(times) < 200:
        started = time.perf_counter()
        model(row).argmax(1)
        times.append(time.perf_counter() - started)
    result["single"] = {
        "p50Us": 1e6 * statistics.median(times),
        "meanUs": 1e6 * statistics.fmean(times),
        "runs": len(times),
    }
    result["batch256"] = batch_throughput()
    # bf16 autocast: what PyTorch offers for speed on a CPU (fast with AMX / AVX512-BF16, slow without)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        result["bf16"] = {"batch256": batch_throughput()}
print(json.dumps(result))
