"""Tokenization alone in Python (the Python side of bench/text_speed.mjs): the Hugging Face `tokenizers` library's
`Tokenizer.encode_batch` (and `encode_batch_fast`, which skips the offsets) on a list of sentences with a
tokenizer.json, warm, best and median of a few passes. Prints one JSON line.

    RAYON_NUM_THREADS=1 node scripts/python.js bench/text_tokenize.py --tokenizer tokenizer.json \\
        --sentences sentences.json [--max-length 64 --truncation right] [--repeats 5]
    node scripts/python.js bench/text_tokenize.py --tokenizer tokenizer.json --data ../shared/data/sst2/test.tsv \\
        --column sentence

Threads: `encode_batch` runs on a rayon thread pool (all cores by default). RAYON_NUM_THREADS=1 makes it one
thread, like Node's tokenizer; bench/text_speed.mjs runs this script both ways. The script records the variable it
ran under and the CPU count.

Special tokens are not added (add_special_tokens=False): Distillery's runtime encodes without [CLS]/[SEP]
(src/preprocess/text.ts). "idsSha256" is the sha256 of the ids as compact JSON (each text's ids truncated to
--max-length on the --truncation side, as the runtime does), so that the Node side can check it got the same ids.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import os
import statistics
import sys
import time


def read_sentences(args: argparse.Namespace) -> list[str]:
    if args.sentences:
        with open(args.sentences, encoding="utf-8") as file:
            sentences = json.load(file)
        if not isinstance(sentences, list) or not all(isinstance(s, str) for s in sentences):
            raise SystemExit(f"{args.sentences}: expected a JSON array of strings")
        return sentences
    if not args.data:
        raise SystemExit("give --sentences FILE.json or --data FILE.tsv|csv --column NAME")
    delimiter = "\t" if args.data.endswith(".tsv") else ","
    with open(args.data, encoding="utf-8", newline="") as file:
        rows = list(csv.DictReader(file, delimiter=delimiter))
    if not rows or args.column not in rows[0]:
        raise SystemExit(f"{args.data}: no column {args.column!r}")
    return [row[args.column] for row in rows]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tokenizer", required=True, help="a tokenizer.json")
    parser.add_argument("--sentences", help="a JSON array of the texts (what bench/text_speed.mjs writes)")
    parser.add_argument("--data", help="or a .tsv/.csv file ...")
    parser.add_argument("--column", default="sentence", help="... and its text column")
    parser.add_argument("--max-length", type=int, default=0, help="truncation for the ids checksum (0: none)")
    parser.add_argument("--truncation", choices=["right", "left"], default="right")
    parser.add_argument("--repeats", type=int, default=5, help="timed passes over all sentences")
    args = parser.parse_args()

    import tokenizers

    sentences = read_sentences(args)
    tokenizer = tokenizers.Tokenizer.from_file(args.tokenizer)
    tokenizer.no_truncation()
    tokenizer.no_padding()

    def passes(encode) -> list[float]:
        encode(sentences, add_special_tokens=False)  # warm: caches, the thread pool
        seconds = []
        for _ in range(args.repeats):
            started = time.perf_counter()
            encode(sentences, add_special_tokens=False)
            seconds.append(time.perf_counter() - started)
        return seconds

    def summary(seconds: list[float]) -> dict:
        best, med = min(seconds), statistics.median(seconds)
        return {
            "seconds": seconds,
            "bestSeconds": best,
            "medianSeconds": med,
            "sentencesPerSecond": len(sentences) / med,
            "usPerSentence": 1e6 * med / len(sentences),
        }

    result: dict = {
        "tokenizers": tokenizers.__version__,
        "python": sys.version.split()[0],
        "rayonNumThreads": os.environ.get("RAYON_NUM_THREADS"),
        "tokenizersParallelism": os.environ.get("TOKENIZERS_PARALLELISM"),
        "cpuCount": os.cpu_count(),
        "sentences": len(sentences),
        "repeats": args.repeats,
        "encodeBatch": summary(passes(tokenizer.encode_batch)),
    }
    fast = getattr(tokenizer, "encode_batch_fast", None)  # tokenizers >= 0.20: no offsets
    result["encodeBatchFast"] = summary(passes(fast)) if fast else None

    ids = [encoding.ids for encoding in tokenizer.encode_batch(sentences, add_special_tokens=False)]
    if args.max_length > 0:
        ids = [i[: args.max_length] if args.truncation == "right" else i[-args.max_length :] for i in ids]
    result["tokens"] = sum(len(i) for i in ids)
    result["idsSha256"] = hashlib.sha256(json.dumps(ids, separators=(",", ":")).encode()).hexdigest()
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
