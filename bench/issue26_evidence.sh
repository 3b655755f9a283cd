#!/usr/bin/env bash
# Issue 26's evidence: RESULTS §18's table re-run with the noise-aware `auto` (labels and auto columns, seeds 0 1 2),
# plus the two small vega-datasets tables (penguins, seattle-weather), one run at a time, then the summary with the
# wall times that state k-fold selection's cost.
#
#   bash bench/issue26_evidence.sh                    every set, cheapest first
#   bash bench/issue26_evidence.sh penguins benefits  only these sets, in this order
#   STOP_AFTER_MIN=45 bash bench/issue26_evidence.sh  start no run after 45 minutes (the summary still runs)
#   SEEDS="0 1" THREADS=2 …                           other seeds / threads (default 0 1 2, OMP_NUM_THREADS=2)
#
# Output: bench/out/issue26/ — <set>/seed-<s>/ (the run folders), <set>-seed-<s>.log, table.md and times.md (the
# summary), runs.tsv (each run's wall time and exit status), lscpu.txt. A finished run is kept, so re-running the
# script goes on where it stopped (a run cut off midway resumes). Only one instance runs at a time (a lock file).
set -u
cd "$(dirname "$0")/.."

OUT=bench/out/issue26
SEEDS=${SEEDS:-"0 1 2"}
THREADS=${THREADS:-2}
STOP_AFTER_MIN=${STOP_AFTER_MIN:-0}
# Cheapest first (estimates in the report of this script's brief): the small tables choose by 5-fold selection and
# take seconds to minutes; diamonds (validation evidence) before the embedded MNIST, whose 800 validation rows make
# auto choose by 5-fold cross-validation of a 2x1200 teacher and six 2x800 students.
DEFAULT_SETS="penguins seattle-weather benefits diamonds mnist-embedded fashion mnist-full mnist-full-60"
if [ "$#" -gt 0 ]; then SETS="$*"; else SETS=$DEFAULT_SETS; fi
for set in $SETS; do
  case " $DEFAULT_SETS " in
    *" $set "*) ;;
    *) echo "unknown set $set (known: $DEFAULT_SETS)" >&2 && exit 2 ;;
  esac
done

mkdir -p "$OUT"
exec 9>"$OUT/.lock"
if ! flock -n 9; then
  echo "another issue26_evidence.sh is running (lock $OUT/.lock)" >&2
  exit 1
fi

{
  echo "# $(date -u +%Y-%m-%dT%H:%M:%SZ), commit $(git rev-parse --short HEAD 2>/dev/null || echo '?'), OMP_NUM_THREADS=$THREADS"
  lscpu
} >"$OUT/lscpu.txt"
[ -f "$OUT/runs.tsv" ] || printf 'set\tseed\tstart_utc\twall_s\texit\n' >"$OUT/runs.tsv"

node bin/distillery.js --version >/dev/null || { echo 'distillery does not build: fix the tree first' >&2; exit 1; }
node bench/results_table.mjs --list --columns labels,auto --out "$OUT" >"$OUT/list.log" 2>&1 || {
  cat "$OUT/list.log" >&2
  exit 1
}

started=$(date +%s)
for set in $SETS; do
  case $set in
    mnist-full | mnist-full-60)
      if [ ! -f ../shared/data/mnist/train.npz ]; then
        echo "$set: skipped (no ../shared/data/mnist/train.npz)" | tee -a "$OUT/skipped.log"
        continue
      fi
      ;;
    fashion)
      if [ ! -f bench/out/results/data/fashion-train.npz ] &&
        ! node scripts/python.js bench/data_fashion.py >"$OUT/fashion-data.log" 2>&1; then
        echo "fashion: skipped (bench/data_fashion.py failed: $OUT/fashion-data.log)" | tee -a "$OUT/skipped.log"
        continue
      fi
      ;;
  esac
  for seed in $SEEDS; do
    if [ "$STOP_AFTER_MIN" -gt 0 ] && [ $(($(date +%s) - started)) -ge $((STOP_AFTER_MIN * 60)) ]; then
      echo "stopped: $STOP_AFTER_MIN minutes are up (before $set seed $seed)" | tee -a "$OUT/skipped.log"
      break 2
    fi
    log="$OUT/$set-seed-$seed.log"
    begin=$(date +%s)
    echo "$(date -u +%H:%M:%S) $set seed $seed → $log"
    OMP_NUM_THREADS=$THREADS node bench/results_table.mjs --run "$set" --seed "$seed" --columns labels,auto \
      --out "$OUT" >>"$log" 2>&1
    status=$?
    printf '%s\t%s\t%s\t%s\t%s\n' "$set" "$seed" "$(date -u -d "@$begin" +%H:%M:%S)" $(($(date +%s) - begin)) \
      "$status" >>"$OUT/runs.tsv"
    [ "$status" -eq 0 ] || echo "  failed (exit $status): see $log"
  done
done

node bench/results_table.mjs --summary --columns labels,auto --out "$OUT" 2>&1 | tee "$OUT/summary.log"
