"""How fast can an int8 student be on this CPU? The ceiling behind issue 15's "int8 >= 3x PyTorch eager" goal.

One thread throughout (the runtime benchmark's setting). Measures, median of --repeats timed runs:
- the float32 matmul peak: torch.mm and onnxruntime MatMul on 1024x1024x1024;
- the int8 matmul peak: onnxruntime MatMulInteger (uint8 x int8, what its quantised Gemm/MatMul kernels run) on the
  same shape;
- PyTorch eager fp32 on the demo's student shape, 784-800-800-10 at batch 256 (random weights: only the time counts),
  as multiply-adds per second.

The best an int8 student can do against PyTorch eager is about (int8 peak) / (eager's achieved rate): eager is
already close to the fp32 peak, so without VNNI / AMX (int8 dot products in one instruction) the ratio stays near
the int8/fp32 instruction-throughput ratio of the CPU. Prints the figures and writes int8_bound.json (its machine
record holds lscpu).

    OMP_NUM_THREADS=1 node scripts/python.js bench/int8_bound.py
"""

from __future__ import annotations

import argparse
import itertools
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort
import torch
from onnx import TensorProto, helper

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common

SIZE = 1024
STUDENT = [784, 800, 800, 10]
BATCH = 256


def timed(fn: Callable[[], Any], repeats: int) -> float:
    """Median seconds of one call, after two warm-up calls."""
    fn()
    fn()
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def matmul_session(folder: str, op: str, a_type: int, b_type: int) -> ort.InferenceSession:
    a = helper.make_tensor_value_info("a", a_type, [SIZE, SIZE])
    b = helper.make_tensor_value_info("b", b_type, [SIZE, SIZE])
    out_type = TensorProto.INT32 if op == "MatMulInteger" else TensorProto.FLOAT
    y = helper.make_tensor_value_info("y", out_type, [SIZE, SIZE])
    graph = helper.make_graph([helper.make_node(op, ["a", "b"], ["y"])], op, [a, b], [y])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    path = os.path.join(folder, f"{op}.onnx")
    onnx.save(model, path)
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    return ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=15)
    args = parser.parse_args()
    torch.set_num_threads(1)
    rng = np.random.default_rng(0)
    macs = SIZE**3
    results: dict[str, float] = {}

    a32, b32 = (torch.from_numpy(rng.standard_normal((SIZE, SIZE), dtype=np.float32)) for _ in range(2))
    results["torchMmFp32"] = macs / timed(lambda: torch.mm(a32, b32), args.repeats) / 1e9
    with tempfile.TemporaryDirectory() as folder:
        fp32 = matmul_session(folder, "MatMul", TensorProto.FLOAT, TensorProto.FLOAT)
        feeds32 = {"a": a32.numpy(), "b": b32.numpy()}
        results["ortMatMulFp32"] = macs / timed(lambda: fp32.run(None, feeds32), args.repeats) / 1e9
        int8 = matmul_session(folder, "MatMulInteger", TensorProto.UINT8, TensorProto.INT8)
        feeds8 = {
            "a": rng.integers(0, 256, (SIZE, SIZE), dtype=np.uint8),
            "b": rng.integers(-128, 128, (SIZE, SIZE), dtype=np.int8),
        }
        results["ortMatMulInteger"] = macs / timed(lambda: int8.run(None, feeds8), args.repeats) / 1e9

    layers: list[torch.nn.Module] = []
    for index, (n_in, n_out) in enumerate(itertools.pairwise(STUDENT)):
        layers.append(torch.nn.Linear(n_in, n_out))
        if index < len(STUDENT) - 2:
            layers.append(torch.nn.ReLU())
    student = torch.nn.Sequential(*layers).eval()
    x = torch.from_numpy(rng.standard_normal((BATCH, STUDENT[0]), dtype=np.float32))
    student_macs = BATCH * sum(a * b for a, b in itertools.pairwise(STUDENT))
    with torch.no_grad():
        seconds = timed(lambda: student(x), args.repeats * 10)
    results["eagerStudent"] = student_macs / seconds / 1e9
    results["eagerStudentRowsPerSecond"] = BATCH / seconds

    fp32_peak = max(results["torchMmFp32"], results["ortMatMulFp32"])
    bound = results["ortMatMulInteger"] / results["eagerStudent"]
    print(f"1 thread, GMAC/s (multiply-adds; 1 MAC = 2 FLOP), median of {args.repeats}:")
    print(
        f"  float32 matmul {SIZE}^3: torch.mm {results['torchMmFp32']:.1f}, onnxruntime MatMul {results['ortMatMulFp32']:.1f}"
    )
    print(
        f"  int8 matmul {SIZE}^3 (onnxruntime MatMulInteger, u8 x s8): {results['ortMatMulInteger']:.1f}  "
        f"= {results['ortMatMulInteger'] / fp32_peak:.2f}x the float32 peak"
    )
    print(
        f"  PyTorch eager, student 784-800-800-10 at batch {BATCH}: {results['eagerStudent']:.1f} "
        f"({results['eagerStudentRowsPerSecond']:,.0f} rows/s) = {results['eagerStudent'] / fp32_peak:.0%} of the float32 peak"
    )
    print(
        f"ceiling for an int8 student over PyTorch eager fp32 at batch {BATCH}: about {bound:.2f}x "
        "(the int8 peak over eager's achieved rate; quantising activations and the fp32 layers only lower it)"
    )
    common.write_json(
        "int8_bound.json",
        {
            "results": results,
            "int8OverFp32Peak": results["ortMatMulInteger"] / fp32_peak,
            "ceilingOverEager": bound,
            "onnxruntime": ort.__version__,
        },
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
