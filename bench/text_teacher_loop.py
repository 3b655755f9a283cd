"""Training the transformer teacher: the engine's training loop against a plain PyTorch loop, same model, data, batch
size and optimiser, side by side in alternating rounds; samples/s of each and their ratio (goal: >= 0.95).

    OMP_NUM_THREADS=1 node scripts/python.js bench/text_teacher_loop.py [--run bench/out/sst2/teacher]
        [--epochs 2] [--rounds 2] [--threads 1] [--rows 20000] [--batch-size 128] [--no-trim]

The data: with --run, the encoded training split of a run folder whose data has a text column (its
resolved-config.json: e.g. the SST-2 run, the real token ids); else synthetic SST-2-shaped rows: --rows texts whose
lengths are drawn from the whitespace word counts of ../shared/data/sst2/train.tsv (--lengths; a fixed fallback
distribution without it), cut at --max-length (64, the SST-2 experiments'), token ids drawn Zipf-like from a
--vocab of 16,000, random labels. Both sides train on exactly these rows (the engine's own training split, read
back through its write_split command); the test split, which the engine evaluates after every epoch, is 256 rows.
One short untimed run of each side comes first (imports, kernels, allocators).

The engine runs through its public API — api.call("train_teacher", …), no ONNX export, mixedPrecision off (fp32 on
both sides) — timed by its own per-epoch clock (the history's "seconds"), which includes its per-epoch test-split
evaluation and metrics: the comparison is generous to the plain loop, which does none of that. The plain loop is
written out here: the engine's transformer layout rebuilt in plain PyTorch (token embedding plus learned positions,
pre-norm blocks with F.scaled_dot_product_attention and a pad-key mask, final LayerNorm, mean over real tokens,
linear head; the parameter count is checked against the engine's), the ids as int64, a seeded randperm per epoch,
torch.optim.Adam (the engine's default, lr 1e-3, constant schedule), cross-entropy. Batches: the engine cuts every
batch after its longest text (text.trimmed); the plain loop does the same by default (the same trimmed batches,
what a DataLoader with a pad-to-longest collate gives), or sends every batch at --max-length with --no-trim.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common

FALLBACK_LENGTHS = [2, 3, 4, 5, 6, 7, 8, 9, 10, 12, 14, 17, 20, 25, 32, 45]  # used without SST-2's train.tsv


def sst2_lengths(path: str) -> list[int]:
    """Whitespace word counts of a .tsv's `sentence` column (SST-2's phrases), or the fallback."""
    if not os.path.exists(path):
        return FALLBACK_LENGTHS
    with open(path, encoding="utf-8") as file:
        header = file.readline().rstrip("\n").split("\t")
        column = header.index("sentence")
        return [max(1, len(line.rstrip("\n").split("\t")[column].split())) for line in file]


def synthetic(args: argparse.Namespace, folder: str) -> dict:
    """SST-2-shaped token rows (pad 0, unknown 1, ids Zipf-like in [2, vocab)) as .npz files, and their data block."""
    import numpy as np

    rng = np.random.default_rng(0)
    lengths_pool = np.array(sst2_lengths(args.lengths))

    def rows(n: int) -> tuple:
        lengths = np.minimum(rng.choice(lengths_pool, size=n), args.max_length)
        ids = np.minimum(rng.zipf(1.2, size=(n, args.max_length)) + 1, args.vocab - 1).astype(np.float32)
        ids[np.arange(args.max_length)[None, :] >= lengths[:, None]] = 0
        return ids, rng.integers(0, 2, size=n).astype(np.int64)

    sources = {}
    for split, n in (("train", args.rows), ("test", 256)):
        x, y = rows(n)
        path = os.path.join(folder, f"synthetic-{split}.npz")
        np.savez(path, x=x, y=y)
        sources[split] = common.file_source(path)
    # A WordLevel tokenizer.json of `vocab` made-up words: the engine reads the tokenizer the text column names.
    from tokenizers import Tokenizer, models

    vocabulary = {"[PAD]": 0, "[UNK]": 1, **{f"w{i}": i for i in range(2, args.vocab)}}
    tokenizer_file = os.path.join(folder, "synthetic-tokenizer.json")
    Tokenizer(models.WordLevel(vocabulary, unk_token="[UNK]")).save(tokenizer_file)
    with open(tokenizer_file, "rb") as file:
        sha256 = hashlib.sha256(file.read()).hexdigest()
    column = {
        "name": "sentence",
        "type": "text",
        "maxLength": args.max_length,
        "truncation": "right",
        "padId": 0,
        "vocabSize": args.vocab,
        "tokenizerSha256": sha256,
    }
    return {
        "task": "classification",
        "train": sources["train"],
        "test": sources["test"],
        "normalize": "standard",
        "preprocess": {"kind": "table", "columns": [column], "targets": ["label"]},
        "tokenizerFile": tokenizer_file,
    }


def from_run(folder: str) -> dict:
    """A run folder's engine data, its validation and transfer sets left out, its test split cut to 256 rows."""
    with open(os.path.join(folder, "resolved-config.json"), encoding="utf-8") as file:
        data = dict(json.load(file)["data"])
    for key in ("validation", "transfer", "transferOrigin", "texts", "maskToken"):
        data.pop(key, None)
    data["test"] = {**data["test"], "limit": 256}
    return data


def plain_transformer(vocab: int, length: int, pad: int, num_outputs: int, model: dict):
    """The engine's `transformer` layout (python/distillery/text_models.py) in plain PyTorch, on int64 ids."""
    import torch
    import torch.nn.functional as F
    from torch import nn

    width, heads, dropout = model["width"], model["heads"], model["dropout"]

    class Block(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.norm1, self.norm2 = nn.LayerNorm(width), nn.LayerNorm(width)
            self.qkv, self.out = nn.Linear(width, 3 * width), nn.Linear(width, width)
            self.ff = nn.Sequential(nn.Linear(width, model["ff"]), nn.GELU(), nn.Linear(model["ff"], width))
            self.drop = nn.Dropout(dropout)

        def forward(self, h: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
            n, t, _ = h.shape
            q, k, v = self.qkv(self.norm1(h)).reshape(n, t, 3, heads, width // heads).permute(2, 0, 3, 1, 4)
            attended = F.scaled_dot_product_attention(
                q, k, v, attn_mask=bias, dropout_p=dropout if self.training else 0.0
            )
            h = h + self.drop(self.out(attended.transpose(1, 2).reshape(n, t, width)))
            return h + self.drop(self.ff(self.norm2(h)))

    class Transformer(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.embedding = nn.Embedding(vocab, width)
            self.positions = nn.Parameter(torch.randn(length, width) * 0.02)
            self.blocks = nn.ModuleList([Block() for _ in range(model["layers"])])
            self.norm = nn.LayerNorm(width)
            self.drop = nn.Dropout(dropout)
            self.head = nn.Linear(width, num_outputs)

        def forward(self, ids: torch.Tensor) -> torch.Tensor:
            mask = ids != pad
            h = self.drop(self.embedding(ids) + self.positions[: ids.shape[1]])
            bias = (~mask).float().mul(-1.0e4)[:, None, None, :]
            for block in self.blocks:
                h = block(h, bias)
            weight = mask.unsqueeze(-1).float()
            pooled = (self.norm(h) * weight).sum(1) / weight.sum(1).clamp(min=1.0)
            return self.head(self.drop(pooled))

    return Transformer()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--run", help="a run folder with a text column (its resolved-config.json's encoded train split)"
    )
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--rows", type=int, default=20000, help="synthetic rows (without --run)")
    parser.add_argument("--vocab", type=int, default=16000, help="synthetic vocabulary (without --run)")
    parser.add_argument("--max-length", type=int, default=64, help="synthetic maxLength (without --run)")
    parser.add_argument(
        "--lengths",
        default=os.path.join(common.ROOT, "..", "shared", "data", "sst2", "train.tsv"),
        help="the .tsv whose sentence lengths the synthetic rows take",
    )
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--heads", type=int, default=4)
    parser.add_argument("--width", type=int, default=128)
    parser.add_argument("--ff", type=int, default=512)
    parser.add_argument("--dropout", type=float, default=0.1)
    parser.add_argument(
        "--trim", action=argparse.BooleanOptionalAction, default=True, help="plain loop: cut batches after the longest"
    )
    args = parser.parse_args()

    import numpy as np
    import torch
    import torch.nn.functional as F

    from distillery import api

    torch.set_num_threads(args.threads)  # the engine runs in this process: the same threads for both sides
    out_dir = os.path.join(common.OUT, "text-teacher-loop")
    os.makedirs(out_dir, exist_ok=True)
    data = from_run(args.run) if args.run else synthetic(args, out_dir)
    column = next(c for c in data["preprocess"]["columns"] if c["type"] == "text")
    if len(data["preprocess"]["columns"]) != 1:
        raise SystemExit("the plain loop rebuilds a text-only table: the data has other columns than its text")
    length, vocab, pad = int(column["maxLength"]), int(column["vocabSize"]), int(column["padId"])
    train_x, train_y = common.read_split(data, "train", out_dir)  # the engine's training split, as it reads it
    ids = torch.as_tensor(train_x.astype(np.int64))
    y = torch.as_tensor(train_y.astype(np.int64))
    num_outputs = int(y.max()) + 1
    real = (ids != pad).sum(1).float()
    model_config = {
        "type": "transformer",
        "layers": args.layers,
        "heads": args.heads,
        "width": args.width,
        "ff": args.ff,
        "dropout": args.dropout,
    }
    training = common.training(
        args.epochs,
        {"type": "adam", "lr": 0.001},
        batch_size=args.batch_size,
        schedule="constant",
        mixed_precision="off",
    )
    engine_params: dict[str, int] = {}

    def ours(seed: int, rows: int = 0) -> float:
        teacher = {"type": "train", "name": "transformer", "model": model_config, "training": training}
        cut = {**data, "train": {**data["train"], "limit": rows}} if rows else data
        result = api.call("train_teacher", common.train_teacher_request(cut, out_dir, teacher, seed=seed))
        engine_params["params"] = int(result["params"])
        history = result["history"]
        return sum(h["samplesPerSecond"] * h["seconds"] for h in history) / sum(h["seconds"] for h in history)

    def plain(seed: int, rows: int = 0) -> float:
        torch.manual_seed(seed)
        model = plain_transformer(vocab, length, pad, num_outputs, model_config)
        optimizer = torch.optim.Adam(model.parameters(), lr=0.001)
        generator = torch.Generator().manual_seed(seed)
        model.train()
        started = time.perf_counter()
        for _ in range(args.epochs):
            for index in torch.randperm(rows or len(ids), generator=generator).split(args.batch_size):
                batch = ids[index]
                if args.trim:
                    used = (batch != pad).any(dim=0).nonzero()
                    batch = batch[:, : int(used.max()) + 1 if len(used) else 1]
                loss = F.cross_entropy(model(batch), y[index])
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
        plain_params["params"] = sum(p.numel() for p in model.parameters())
        return (rows or len(ids)) * args.epochs / (time.perf_counter() - started)

    plain_params: dict[str, int] = {}
    # untimed: one short run of each first (imports, kernels, allocators), so that round 1 does not pay for them
    ours(0, rows=min(len(ids), 4 * args.batch_size))
    plain(0, rows=min(len(ids), 4 * args.batch_size))
    pairs = []
    for round_ in range(args.rounds):
        order = [("ours", ours), ("plain", plain)] if round_ % 2 == 0 else [("plain", plain), ("ours", ours)]
        pair = {side: run(round_) for side, run in order}
        pair["ratio"] = pair["ours"] / pair["plain"]
        pairs.append(pair)
        print(
            f"round {round_ + 1}: engine {pair['ours']:.0f}, plain {pair['plain']:.0f} samples/s ({pair['ratio']:.3f})",
            file=sys.stderr,
            flush=True,
        )
    if engine_params.get("params") != plain_params["params"]:  # the same model on both sides
        raise SystemExit(f"the plain model has {plain_params['params']} parameters, the engine's {engine_params}")
    ratio = statistics.median(p["ratio"] for p in pairs)
    source = args.run or f"synthetic SST-2-shaped ({args.rows} rows, vocab {vocab}, lengths from {args.lengths})"
    print(
        f"\ntransformer teacher ({args.layers} layers, {args.heads} heads, width {args.width}, ff {args.ff}, dropout "
        f"{args.dropout}; {plain_params['params']:,} params on both sides) on {source}: {len(ids)} rows, {float(real.mean()):.1f} "
        f"tokens per text on average (maxLength {length}); batch {args.batch_size}, Adam 1e-3, fp32, {args.epochs} "
        f"epochs, {args.rounds} alternating rounds (median), torch threads {torch.get_num_threads()}; plain batches "
        f"{'trimmed to their longest text, as the engine' if args.trim else f'at the full {length} slots'}"
    )
    print(
        common.table(
            [[str(i + 1), f"{p['ours']:.0f}", f"{p['plain']:.0f}", f"{p['ratio']:.3f}"] for i, p in enumerate(pairs)],
            ["round", "engine samples/s", "plain samples/s", "engine / plain"],
        )
    )
    print(f"goal: the engine >= 0.95x the plain loop -> {ratio:.3f} {'met' if ratio >= 0.95 else 'MISSED'}")
    common.write_json(
        "text_teacher_loop.json",
        {
            "data": source,
            "rows": len(ids),
            "meanTokens": float(real.mean()),
            "maxLength": length,
            "vocab": vocab,
            "model": model_config,
            "params": plain_params["params"],
            "batchSize": args.batch_size,
            "epochs": args.epochs,
            "rounds": args.rounds,
            "threads": torch.get_num_threads(),
            "plainTrimmed": args.trim,
            "pairs": pairs,
            "ratio": ratio,
            "goal": 0.95,
        },
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
