#!/usr/bin/env bash
# Hinton, Vinyals & Dean 2015 at the paper's size on a CUDA GPU (issue 13), as one prepared script: Python only.
#
#   DISTILLERY_FULL_MNIST=/path/to/mnist bash bench/device/hinton.sh     # the folder with train.npz and test.npz
#   (docs/RESULTS.md §8: on an H200, 398 s in all)
#
# 1. The teacher's schedule, chosen on validation, never on the test set: bench/hinton_recipe.py trains the
#    2x1200 teacher (dropout 0.3, no input dropout, SGD 0.05 Nesterov, cosine, 2-px jitter, batch 128) on
#    train[:50k] for each of $SCHEDULES epochs, side by side, and counts its errors on train[50k:]. The rule, fixed
#    before the run: the fewest validation errors at the end of the schedule wins; a tie goes to the shorter one.
# 2. bench/repro_hinton.py --scale full --consistent with that schedule: the three seeds side by side (one process
#    each, the GPU is launch-bound on a model this small), then --merge into one table.
# Logs and JSON go to $OUT (default bench/out/device-hinton); checkpoints stay under bench/out.
set -u
cd "$(dirname "$0")/../.."
export PYTHONPATH="$PWD/python${PYTHONPATH:+:$PYTHONPATH}"
export OUT="${OUT:-$PWD/bench/out/device-hinton}"
export BENCH_OUT="${BENCH_OUT:-$PWD/bench/out}"
mkdir -p "$OUT"
PY="${PYTHON:-python3}"
DEVICE="${DEVICE:-cuda}"
SCHEDULES="${SCHEDULES:-60 120}"
SEEDS="${SEEDS:-0 1 2}"
STUDENT_EPOCHS="${STUDENT_EPOCHS:-30}"
TAG="${TAG:--gpu}"
THREADS="${THREADS:-4}"

for epochs in $SCHEDULES; do
  OMP_NUM_THREADS=$THREADS "$PY" bench/hinton_recipe.py "teacher-$epochs" sgd 0.05 0 0 "$epochs" 0.3 --device "$DEVICE" \
    >"$OUT/recipe-$epochs.log" 2>&1 &
done
wait
best=""
best_errors=""
for epochs in $SCHEDULES; do  # in the order given, so a tie keeps the earlier (shorter) schedule
  errors=$(awk '/val errors/ { last = $6 } END { print last }' "$OUT/recipe-$epochs.log")
  echo "schedule $epochs epochs: ${errors:-none} validation errors (train[50k:])" | tee -a "$OUT/choice.txt"
  if [ -z "$errors" ]; then echo "recipe $epochs failed:"; tail -5 "$OUT/recipe-$epochs.log"; exit 1; fi
  if [ -z "$best" ] || [ "$errors" -lt "$best_errors" ]; then best=$epochs; best_errors=$errors; fi
done
echo "chosen: $best epochs" | tee -a "$OUT/choice.txt"

parts=()
for seed in $SEEDS; do
  "$PY" bench/repro_hinton.py --scale full --device "$DEVICE" --consistent --soft-lr 0.05 --clip 5 --threads "$THREADS" \
    --teacher-epochs "$best" --student-epochs "$STUDENT_EPOCHS" --seeds "$seed" --tag="$TAG-s$seed" >"$OUT/seed-$seed.log" 2>&1 &
  parts+=("$BENCH_OUT/repro_hinton_full$TAG-s$seed.json")
done
failed=0
for job in $(jobs -p); do wait "$job" || failed=1; done
cp "${parts[@]}" "$OUT/" 2>/dev/null
if [ $failed -ne 0 ]; then echo "a seed failed:"; tail -5 "$OUT"/seed-*.log; exit 1; fi
"$PY" bench/repro_hinton.py --scale full --tag="$TAG" --merge "${parts[@]}" | tee "$OUT/table.txt"
cp "$BENCH_OUT/repro_hinton_full$TAG.json" "$OUT/"
