"""Training-loop efficiency: the engine's training loop vs a straightforward PyTorch loop over
torch.utils.data.DataLoader(TensorDataset(...)), same model, batch size, optimiser and threads, side by side;
and the GFLOP/s the engine achieves on the 2x1200 teacher against this machine's measured fp32 matmul peak.

    node scripts/python.js bench/train_loop.py [--epochs 3] [--rounds 2] [--threads 1]

The engine is run through its public API — api.call("train_teacher", …) on the embedded digits, no ONNX export —
and timed by its own per-epoch clock (the result's history: "seconds", "samplesPerSecond"), which includes what it
does besides training (a test-set evaluation, metrics, progress events every epoch): the comparison is generous to
the plain loop, which does none of that. The plain loop is written out here: the engine's training split (raw
arrays from the write_split command, standardised the engine's way), the same MLP layout built in plain PyTorch,
torch.optim.SGD with the same settings (no schedule). Training FLOPs are taken as 3x the forward FLOPs per sample
(forward + backward of activations and weights); the forward FLOPs are the engine's (the result's flopsPerSample).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common

MODELS = {
    "teacher 2x1200 (dropout)": common.HINTON_TEACHER,
    "student 2x800": common.mlp([800, 800]),
    "small 2x30": common.mlp([30, 30]),
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument(
        "--matmul",
        type=lambda v: [int(x) for x in v.split(",")],
        default=[1024, 2048, 4096],
        help="sides of the square matrices for the peak (the best is taken)",
    )
    args = parser.parse_args()

    import numpy as np
    import torch
    from torch.utils.data import DataLoader, TensorDataset

    from distillery import api

    torch.set_num_threads(args.threads)  # the engine runs in this process: the same threads for both sides
    data = common.embedded_data()
    training = common.training(args.epochs)
    out_dir = os.path.join(common.OUT, "train-loop")
    os.makedirs(out_dir, exist_ok=True)
    train_x, train_y = common.read_split(data, "train", out_dir)  # the engine's training split, raw
    x = torch.as_tensor(common.standardize(train_x, train_x))
    y = torch.as_tensor(train_y.astype(np.int64))
    sample_shape, num_outputs = list(train_x.shape[1:]), int(train_y.max()) + 1
    flops: dict[str, int] = {}

    def ours(name: str, model_config: dict, seed: int) -> float:
        teacher = {"type": "train", "name": "bench", "model": model_config, "training": training}
        result = api.call("train_teacher", common.train_teacher_request(data, out_dir, teacher, seed=seed))
        flops[name] = result["flopsPerSample"]
        history = result["history"]
        return sum(h["samplesPerSecond"] * h["seconds"] for h in history) / sum(h["seconds"] for h in history)

    def plain(name: str, model_config: dict, seed: int) -> float:
        torch.manual_seed(seed)
        model = common.plain_mlp(model_config, sample_shape, num_outputs)
        sgd = training["optimizer"]  # the same SGD (lr 0.05, momentum 0.9, Nesterov)
        optimizer = torch.optim.SGD(
            model.parameters(),
            lr=sgd["lr"],
            momentum=sgd["momentum"],
            nesterov=sgd["nesterov"],
            weight_decay=training["weightDecay"],
        )
        loader = DataLoader(TensorDataset(x, y), batch_size=training["batchSize"], shuffle=True)
        model.train()
        started = time.perf_counter()
        for _ in range(args.epochs):
            for batch_x, batch_y in loader:
                loss = torch.nn.functional.cross_entropy(model(batch_x), batch_y)
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
        return len(x) * args.epochs / (time.perf_counter() - started)

    results = {}
    for name, config in MODELS.items():
        pairs = []
        for round_ in range(args.rounds):
            order = [("ours", ours), ("plain", plain)] if round_ % 2 == 0 else [("plain", plain), ("ours", ours)]
            pair = {side: run(name, config, round_) for side, run in order}
            pair["ratio"] = pair["ours"] / pair["plain"]
            pairs.append(pair)
            print(
                f"{name} round {round_ + 1}: engine {pair['ours']:.0f}, DataLoader {pair['plain']:.0f} samples/s",
                file=sys.stderr,
                flush=True,
            )
        results[name] = {
            "model": config,
            "forwardFlopsPerSample": flops[name],
            "pairs": pairs,
            "ours": statistics.median(p["ours"] for p in pairs),
            "plain": statistics.median(p["plain"] for p in pairs),
            "ratio": statistics.median(p["ratio"] for p in pairs),
        }

    # the machine's fp32 matmul peak at the same thread count: the best torch.mm rate over a few large square sizes
    best, per_size = 0.0, {}
    for size in args.matmul:
        a, b = torch.randn(size, size), torch.randn(size, size)
        torch.mm(a, b)
        reps = max(1, int(4e9 / size**3))
        rate = 0.0
        for _ in range(3):
            started = time.perf_counter()
            for _ in range(reps):
                torch.mm(a, b)
            rate = max(rate, 2 * size**3 * reps / (time.perf_counter() - started) / 1e9)
        per_size[size] = rate
        best = max(best, rate)
    peak = best
    size = max(per_size, key=per_size.get)

    rows = []
    for name, r in results.items():
        gflops = 3 * r["forwardFlopsPerSample"] * r["ours"] / 1e9
        r["achievedGflops"] = gflops
        r["shareOfPeak"] = gflops / peak
        rows.append(
            [
                name,
                f"{r['forwardFlopsPerSample'] / 1e6:.2f}M",
                f"{r['ours']:.0f}",
                f"{r['plain']:.0f}",
                f"{r['ratio']:.2f}x",
                f"{gflops:.1f}",
                f"{100 * gflops / peak:.0f}%",
            ]
        )
    print(
        f"\nengine (api.call train_teacher) vs DataLoader(TensorDataset) loop, embedded MNIST (8000), batch 128, SGD, {args.epochs} epochs, "
        f"{args.rounds} alternating rounds (median), torch threads {torch.get_num_threads()}; fp32 matmul peak "
        f"(torch.mm, best over {'/'.join(map(str, per_size))}: {size}x{size}) {peak:.1f} GFLOP/s"
    )
    print(
        common.table(
            rows,
            [
                "model",
                "fwd FLOPs/sample",
                "engine samples/s",
                "DataLoader samples/s",
                "speed-up",
                "engine GFLOP/s (3x fwd)",
                "of peak",
            ],
        )
    )
    teacher = results["teacher 2x1200 (dropout)"]
    print(
        f"goal: the engine >= 1.5x the DataLoader loop -> teacher {teacher['ratio']:.2f}x, "
        + ", ".join(f"{k} {v['ratio']:.2f}x" for k, v in results.items() if k != "teacher 2x1200 (dropout)")
    )
    common.write_json(
        "train_loop.json",
        {
            "epochs": args.epochs,
            "rounds": args.rounds,
            "threads": torch.get_num_threads(),
            "matmulPeakGflops": peak,
            "matmulSize": size,
            "matmulBySize": per_size,
            "models": results,
            "goal": 1.5,
        },
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
