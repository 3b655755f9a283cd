"""Teacher-output cache: a distilled student's epoch time with the teacher's outputs computed once and cached
(training.teacherOutputs 'cached') vs the teacher run on every batch ('online'), side by side.

    node scripts/python.js bench/teacher_cache.py [--epochs 3] [--rounds 2] [--threads 1]

Teacher: the shared embedded 2x1200 teacher (bench/out/teacher-embedded, trained if missing); students 2x800 and
2x30, soft targets T=20. The one-time cost of the cache (one teacher pass over the transfer set) is reported apart:
timed as ``api.predict`` of the teacher over the transfer split (the data already loaded by a first call), so it
includes loading the teacher's checkpoint — a slight overestimate.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--teacher")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()

    import torch

    from distillery import api

    torch.set_num_threads(args.threads)
    teacher = common.ensure_embedded_teacher(path=args.teacher)
    data = common.embedded_data()
    api.predict(
        teacher, data, "test", device="cpu"
    )  # warm-up: loads the data (the engine keeps it) and the checkpoint once
    started = time.perf_counter()
    api.predict(teacher, data, "transfer", device="cpu")
    cache_seconds = time.perf_counter() - started

    out_dir = os.path.join(common.OUT, "teacher-cache")
    results = {}
    for hidden in ([800, 800], [30, 30]):
        name = "x".join(map(str, hidden))
        pairs = []
        for round_ in range(args.rounds):
            pair = {}
            for mode in ("cached", "online") if round_ % 2 == 0 else ("online", "cached"):
                student = common.student_spec(
                    f"cache-{mode}",
                    common.mlp(hidden),
                    {"type": "soft-targets", "temperature": 20, "alpha": 0.9},
                    common.training(args.epochs, teacher_outputs=mode),
                )
                result = api.call(
                    "distill", common.distill_request(data, out_dir, student, teacher=teacher, seed=round_)
                )
                assert result["teacher"]["outputs"] == mode, result["teacher"]
                pair[mode] = statistics.median(h["seconds"] for h in result["history"])
            pair["speedup"] = pair["online"] / pair["cached"]
            pairs.append(pair)
            print(
                f"{name} round {round_ + 1}: cached {pair['cached']:.2f} s, online {pair['online']:.2f} s per epoch",
                file=sys.stderr,
                flush=True,
            )
        results[name] = {
            "pairs": pairs,
            "cached": statistics.median(p["cached"] for p in pairs),
            "online": statistics.median(p["online"] for p in pairs),
            "speedup": statistics.median(p["speedup"] for p in pairs),
        }

    rows = [
        [f"student {k}", f"{v['cached']:.2f}", f"{v['online']:.2f}", f"{v['speedup']:.2f}x"] for k, v in results.items()
    ]
    print(
        f"\nTeacher outputs cached vs online: 2x1200 teacher, embedded MNIST (8000), {args.epochs} epochs, {args.rounds} alternating "
        f"rounds (median epoch), torch threads {torch.get_num_threads()}; building the cache once: {cache_seconds:.2f} s"
    )
    print(common.table(rows, ["student", "cached s/epoch", "online s/epoch", "cached speed-up"]))
    common.write_json(
        "teacher_cache.json",
        {
            "teacher": teacher,
            "epochs": args.epochs,
            "rounds": args.rounds,
            "threads": torch.get_num_threads(),
            "cacheBuildSeconds": cache_seconds,
            "students": results,
        },
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
