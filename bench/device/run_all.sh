#!/usr/bin/env bash
# Every CUDA check of Distillery, as one prepared script for a GPU machine: Python 3 with torch, numpy, onnx,
# onnxscript and onnxruntime (requirements.txt) — no Node, no node_modules, the engine run as `python -m distillery`
# style calls (distillery.api, and python -m distillery run_experiment … --nproc-per-node N for DDP).
#
#   bash bench/device/run_all.sh            # from the repository root; results under $OUT (default bench/out/device)
#
# 1. cuda_reliability.py  resume and divergence guarantees on CUDA (fails, never skips, without CUDA)
# 2. cuda.py              2x1200 teacher / 2x800 student samples/s, batch 128 and 4096, bf16 and compile on/off,
#                         fraction of the measured matmul roofline; resnet8x4 on 32x32 images/s (fp32, bf16,
#                         channels-last, compile); the issue's H200 goals, met or not
# 3. ddp.py --device cuda 1 vs 2 GPUs (nccl), samples/s scaling and equal weights — only with 2+ GPUs
# 4. ddp.py --device cpu  1 vs 2 gloo ranks on this machine's CPU (the CI figure, on a bigger CPU)
# 5. shards.py            the 2x1200 teacher from resident rows, from memory-mapped .npy shards, and from host rows
#                         copied a batch ahead through pinned memory (data too large for the GPU): samples/s, equal weights
# Each step's output goes to $OUT/<step>.log; the script goes on after a failed step and exits 1 at the end if any failed.
set -u
cd "$(dirname "$0")/../.."
export PYTHONPATH="$PWD/python${PYTHONPATH:+:$PYTHONPATH}"
export OUT="${OUT:-$PWD/bench/out/device}"
mkdir -p "$OUT"
PY="${PYTHON:-python3}"
MNIST="${DISTILLERY_MNIST_NPZ:-}"
failed=0
step() {
  local name="$1"; shift
  echo "== $name: $*"
  local started=$SECONDS
  if "$@" >"$OUT/$name.log" 2>&1; then echo "   ok ($((SECONDS - started)) s)"; else echo "   FAILED ($((SECONDS - started)) s): see $OUT/$name.log"; tail -5 "$OUT/$name.log"; failed=1; fi
}
"$PY" -c 'import torch; print("torch", torch.__version__, "cuda", torch.cuda.is_available(), [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())])' | tee "$OUT/device.txt"
step cuda_reliability "$PY" bench/device/cuda_reliability.py --device cuda
step cuda "$PY" bench/cuda.py ${MNIST:+--data "$MNIST"} --cpu-epochs 1
gpus=$("$PY" -c 'import torch; print(torch.cuda.device_count())')
if [ "$gpus" -ge 2 ]; then
  step ddp_cuda env OUT="$OUT/ddp-cuda" "$PY" bench/ddp.py --device cuda --ranks 2 --epochs 6 --batch 1024
else
  echo "== ddp_cuda: skipped, $gpus GPU(s) (2-GPU DDP scaling needs two)" | tee "$OUT/ddp_cuda.log"
fi
step ddp_cpu env OUT="$OUT/ddp-cpu" "$PY" bench/ddp.py --device cpu --ranks 2
step shards env OUT="$OUT/shards" BENCH_OUT="$OUT/shards" "$PY" bench/shards.py --device cuda --epochs 3 ${MNIST:+--data "$MNIST"}
exit $failed
