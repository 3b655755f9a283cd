"""Training-loop efficiency: Distillery's fit() vs a straightforward PyTorch loop over
torch.utils.data.DataLoader(TensorDataset(...)), same model, batch size, optimiser and threads, side by side;
and the GFLOP/s fit() achieves on the 2x1200 teacher against this machine's measured fp32 matmul peak.

    node scripts/python.js bench/train_loop.py [--epochs 3] [--rounds 2] [--threads 1]

fit() is timed by its own per-epoch clock, which includes what it does besides training (a test-set evaluation,
metrics, progress events every epoch): the comparison is generous to the plain loop, which does none of that.
Training FLOPs are taken as 3x the forward FLOPs per sample (forward + backward of activations and weights).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402

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
    parser.add_argument("--matmul", type=lambda v: [int(x) for x in v.split(",")], default=[1024, 2048, 4096],
                        help="sides of the square matrices for the peak (the best is taken)")
    args = parser.parse_args()

    import torch
    from torch.utils.data import DataLoader, TensorDataset

    from distillery.data import load_data
    from distillery.models import build_model, flops_per_sample
    from distillery.progress import Silent
    from distillery.train import Objective, fit, make_optimizer

    torch.set_num_threads(args.threads)
    device = torch.device("cpu")
    data = load_data(common.embedded_data(), device)
    training = common.training(args.epochs)
    n = data.train.n

    def ours(model_config: dict, seed: int) -> float:
        torch.manual_seed(seed)
        model = build_model(model_config, data.sample_shape, data.num_outputs)
        result = fit(model, data, training, Objective({"type": "hard-labels"}), device, Silent(), phase="teacher", name="bench", seed=seed)
        return n * args.epochs / sum(h["seconds"] for h in result.history)

    def plain(model_config: dict, seed: int) -> float:
        torch.manual_seed(seed)
        model = build_model(model_config, data.sample_shape, data.num_outputs)
        optimizer = make_optimizer(model, training)  # the same SGD (lr 0.05, momentum 0.9, Nesterov)
        loader = DataLoader(TensorDataset(data.train.x, data.train.y), batch_size=training["batchSize"], shuffle=True)
        model.train()
        started = time.perf_counter()
        for _ in range(args.epochs):
            for x, y in loader:
                loss = torch.nn.functional.cross_entropy(model(x), y)
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
        return n * args.epochs / (time.perf_counter() - started)

    results = {}
    for name, config in MODELS.items():
        pairs = []
        for round_ in range(args.rounds):
            order = [("ours", ours), ("plain", plain)] if round_ % 2 == 0 else [("plain", plain), ("ours", ours)]
            pair = {side: run(config, round_) for side, run in order}
            pair["ratio"] = pair["ours"] / pair["plain"]
            pairs.append(pair)
            print(f"{name} round {round_ + 1}: fit {pair['ours']:.0f}, DataLoader {pair['plain']:.0f} samples/s", file=sys.stderr, flush=True)
        flops = flops_per_sample(build_model(config, data.sample_shape, data.num_outputs), data.sample_shape)
        results[name] = {"model": config, "forwardFlopsPerSample": flops, "pairs": pairs,
                         "ours": statistics.median(p["ours"] for p in pairs), "plain": statistics.median(p["plain"] for p in pairs),
                         "ratio": statistics.median(p["ratio"] for p in pairs)}

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
        rows.append([name, f"{r['forwardFlopsPerSample'] / 1e6:.2f}M", f"{r['ours']:.0f}", f"{r['plain']:.0f}", f"{r['ratio']:.2f}x",
                     f"{gflops:.1f}", f"{100 * gflops / peak:.0f}%"])
    print(f"\nfit() vs DataLoader(TensorDataset) loop, embedded MNIST (8000), batch 128, SGD, {args.epochs} epochs, "
          f"{args.rounds} alternating rounds (median), torch threads {torch.get_num_threads()}; fp32 matmul peak "
          f"(torch.mm, best over {'/'.join(map(str, per_size))}: {size}x{size}) {peak:.1f} GFLOP/s")
    print(common.table(rows, ["model", "fwd FLOPs/sample", "fit samples/s", "DataLoader samples/s", "speed-up", "fit GFLOP/s (3x fwd)",
                              "of peak"]))
    teacher = results["teacher 2x1200 (dropout)"]
    print(f"goal: fit() >= 1.5x the DataLoader loop -> teacher {teacher['ratio']:.2f}x, "
          + ", ".join(f"{k} {v['ratio']:.2f}x" for k, v in results.items() if k != "teacher 2x1200 (dropout)"))
    common.write_json("train_loop.json", {"epochs": args.epochs, "rounds": args.rounds, "threads": torch.get_num_threads(),
                                          "matmulPeakGflops": peak, "matmulSize": size, "matmulBySize": per_size, "models": results, "goal": 1.5})
    return 0


if __name__ == "__main__":
    sys.exit(main())
