#!/usr/bin/env bash
# Issue 27's SST-2 evidence (docs/RESULTS.md §20): a teacher ensemble trained here, then embedding-bag and BiLSTM
# students on the labels, with KD, with KD on an augmented transfer set (Tang et al. 2019) and with `auto`, seeds
# 0 1 2, the verdict against the labels student pooled over the seeds (seeds.md of each experiment).
#
#   bash bench/sst2_evidence.sh                  teacher, then students, then augmented (a finished step is kept)
#   bash bench/sst2_evidence.sh students         only these steps (teacher | students | augmented | bilstm-auto)
#   SEEDS=0,1 THREADS=1 …                        other seeds / threads (default 0,1,2 and OMP_NUM_THREADS=2)
#
# Data: ../shared/data/sst2 (benchmarks only; the library never reads it). Its dev.tsv names the text column
# `content` where train and test say `sentence`, so the script writes bench/out/sst2/dev.tsv with the header renamed
# (the rows are unchanged). Selection is on dev (evaluate.selection.folds: 'off': 872 rows, no k-fold), the figures
# are on the 1,821 test sentences. Output: bench/out/sst2/{teacher,students,augmented}/, their logs, runs.tsv and
# lscpu.txt.
set -u
cd "$(dirname "$0")/.."

OUT=bench/out/sst2
SEEDS=${SEEDS:-0,1,2}
THREADS=${THREADS:-2}
SST2=../shared/data/sst2
if [ "$#" -gt 0 ]; then STEPS="$*"; else STEPS="teacher students augmented bilstm-auto"; fi
[ -f "$SST2/train.tsv" ] || { echo "no $SST2/train.tsv: this benchmark needs ../shared/data/sst2" >&2; exit 1; }

mkdir -p "$OUT"
exec 9>"$OUT/.lock"
flock -n 9 || { echo "another sst2_evidence.sh is running (lock $OUT/.lock)" >&2; exit 1; }
{ printf 'label\tsentence\n'; tail -n +2 "$SST2/dev.tsv"; } >"$OUT/dev.tsv"
{
  echo "# $(date -u +%Y-%m-%dT%H:%M:%SZ), commit $(git rev-parse --short HEAD 2>/dev/null || echo '?'), OMP_NUM_THREADS=$THREADS"
  lscpu
} >>"$OUT/lscpu.txt"
[ -f "$OUT/runs.tsv" ] || printf 'step\tstart_utc\twall_s\texit\n' >"$OUT/runs.tsv"

step() { # name, then the distillery arguments
  local name=$1
  shift
  local begin
  begin=$(date +%s)
  echo "$(date -u +%H:%M:%S) $name → $OUT/$name.log"
  OMP_NUM_THREADS=$THREADS node bin/distillery.js run "$@" >>"$OUT/$name.log" 2>&1
  local status=$?
  printf '%s\t%s\t%s\t%s\n' "$name" "$(date -u -d "@$begin" +%H:%M:%S)" $(($(date +%s) - begin)) $status >>"$OUT/runs.tsv"
  return $status
}

for name in $STEPS; do
  case $name in
    teacher)
      if [ -f "$OUT/teacher/report.json" ]; then echo "teacher: kept ($OUT/teacher)"; continue; fi
      resume=()
      [ -f "$OUT/teacher/manifest.json" ] && resume=(--resume)
      step teacher bench/experiments/sst2-teacher.json --out "$OUT/teacher" "${resume[@]}" || exit 1
      ;;
    students | augmented | bilstm-auto)
      experiment=bench/experiments/sst2-$name.json
      resume=()
      [ -d "$OUT/$name" ] && resume=(--resume)
      step "$name" "$experiment" --seeds "$SEEDS" --out "$OUT/$name" "${resume[@]}" || exit 1
      ;;
    *) echo "unknown step $name (teacher | students | augmented | bilstm-auto)" >&2 && exit 2 ;;
  esac
done
