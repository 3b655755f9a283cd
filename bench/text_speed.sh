#!/usr/bin/env bash
# Issue 27's speed figures (docs/BENCHMARKS.md "Text"), one after the other on a quiet machine, one thread each:
# the SST-2 embedding-bag and BiLSTM students in Node (tokenization included) with the Node vs Python tokenizer
# ratio, then the transformer teacher's training loop against a plain PyTorch loop. Needs bench/sst2_evidence.sh's
# students (bench/out/sst2/students/seed-0). Output: bench/out/text-speed/{bag,bilstm}/text_speed.{json,md},
# bench/out/text-speed/teacher-loop/text_teacher_loop.json, lscpu.txt.
set -eu
cd "$(dirname "$0")/.."
OUT=bench/out/text-speed
RUN=bench/out/sst2/students/seed-0
mkdir -p "$OUT"
{ echo "# $(date -u +%Y-%m-%dT%H:%M:%SZ), commit $(git rev-parse --short HEAD), load $(cut -d' ' -f1-3 /proc/loadavg)"; lscpu; } >"$OUT/lscpu.txt"
for model in bag:bag-labels bilstm:bilstm-labels; do
  name=${model%%:*}
  OMP_NUM_THREADS=1 BENCH_OUT="$OUT/$name" node bench/text_speed.mjs "$RUN/${model#*:}.onnx" \
    --data ../shared/data/sst2/test.tsv --column sentence --rounds 5 --seconds 3 --repeats 5
done
OMP_NUM_THREADS=1 BENCH_OUT="$OUT/teacher-loop" node scripts/python.js bench/text_teacher_loop.py \
  --rows 20000 --epochs 1 --rounds 3 --dropout 0.2
