#!/usr/bin/env bash
# Runs every reproduction in sequence (1-2 hours on the loaded 2-core dev machine; the full-MNIST part dominates), logging to bench/out/*.log.
#   bash bench/run_repros.sh            # all
#   bash bench/run_repros.sh embedded   # only those on the embedded digits (no ../shared/data needed)
set -u
cd "$(dirname "$0")/.."
mkdir -p bench/out
run() { local name=$1; shift; echo "== $name: $*"; node scripts/python.js "$@" > "bench/out/$name.log" 2>&1; echo "   exit $? ($(tail -n 1 "bench/out/$name.log"))"; }
run repro_ba_caruana bench/repro_ba_caruana.py
run repro_sweeps bench/repro_sweeps.py
run repro_hinton_embedded bench/repro_hinton.py --scale embedded
run repro_hinton_embedded-lr0.05 bench/repro_hinton.py --scale embedded --soft-lr 0.05 --tag=-lr0.05
if [ "${1:-all}" = all ]; then
  run repro_hinton_full bench/repro_hinton.py --scale full
  run repro_omitted3 bench/repro_omitted3.py
fi
