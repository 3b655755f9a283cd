"""Reliability on CUDA, through the engine's public API: a cancelled-then-resumed teacher ends where an uninterrupted
one ends, and a diverging one fails with TrainingDivergedError and keeps the last good epoch's state — the
guarantees python/tests/test_errors.py and test_train.py check on the CPU.

Not part of `npm test` (CI has no GPU, and a skipped test is a defect). Needs Python with torch and numpy only — no
Node, no pytest, no MNIST (the data is a small synthetic set written to a temporary folder). On a GPU machine:

    python bench/device/cuda_reliability.py                 # --device cuda (the default)
    python bench/device/cuda_reliability.py --device cpu    # the same checks on the CPU, e.g. to try the script

With --device cuda it fails (rather than skips) without CUDA. Prints one line per check; exit status 1 if any failed.

  resume (mixedPrecision off and bf16): train_teacher, cancelled from its progress sink after epoch 2 (the state file
      holds epoch 2), then the same request with resume: true; its test outputs (api.predict) must match an
      uninterrupted run's to 1e-4, and it must say it resumed after epoch 2.
  divergence: train_teacher whose learning rate becomes absurd after epoch 1 (step schedule, gamma 1e38) must raise
      TrainingDivergedError with details {epoch: 2, lastGoodEpoch: 1, stateFile}; the kept state must be epoch 1's:
      resumed (resume: true, epochs 1) it gives a model with finite outputs and the diverged run's epoch-1 loss.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import traceback
from collections.abc import Callable
from typing import Any

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))  # bench/ (common.py puts python/ on the path)
import numpy as np  # noqa: E402

import common  # noqa: E402
from distillery import api  # noqa: E402

SGD = {"type": "sgd", "lr": 0.05, "momentum": 0.9, "nesterov": True}
# Largest |difference| allowed between the resumed and the uninterrupted model's test outputs (logits of order 1-10).
TOLERANCE = 1e-4


def tiny_data(
    folder: str, n_train: int = 256, n_test: int = 64, shape: tuple[int, ...] = (1, 8, 8), classes: int = 3
) -> dict[str, Any]:
    """Random 8x8 images whose label is the argmax of their first 3 pixels, as .npz files; returns a complete data config."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(n_train + n_test, *shape)).astype(np.float32)
    y = x.reshape(len(x), -1)[:, :classes].argmax(axis=1)
    train, test = os.path.join(folder, "train.npz"), os.path.join(folder, "test.npz")
    np.savez(train, x=x[:n_train], y=y[:n_train])
    np.savez(test, x=x[n_train:], y=y[n_train:])
    return {
        "task": "classification",
        "train": common.file_source(train),
        "test": common.file_source(test),
        "normalize": "standard",
        "preprocess": None,
    }


def training(**overrides: Any) -> dict[str, Any]:
    return {
        "epochs": 4,
        "batchSize": 32,
        "optimizer": {"type": "adam", "lr": 0.001},
        "weightDecay": 0,
        "schedule": {"type": "constant", "warmupEpochs": 0},
        "checkpoint": "last",
        "mixedPrecision": "auto",
        "teacherOutputs": "auto",
        "compile": False,
        "channelsLast": False,
        **overrides,
    }


class Events:
    """An on_event sink that records every event and asks to cancel after epoch ``cancel_after`` (if given)."""

    def __init__(self, cancel_after: int | None = None) -> None:
        self.cancel_after = cancel_after
        self.events: list[dict[str, Any]] = []

    def __call__(self, event: dict[str, Any]) -> bool:
        self.events.append(event)
        return self.cancel_after is not None and event.get("event") == "epoch" and event["epoch"] == self.cancel_after

    def logs(self) -> list[str]:
        return [event["message"] for event in self.events if event.get("event") == "log"]


def expect_error(kind: str, run: Callable[[], Any]) -> Exception:
    """Runs ``run`` and returns the engine error it raised, which must be of type ``kind`` (by name: the public API
    exposes the error's type name, message and ``details``, as the bridge sends them)."""
    try:
        run()
    except Exception as error:
        if type(error).__name__ != kind:
            raise AssertionError(f"expected {kind}, got {type(error).__name__}: {error}") from error
        return error
    raise AssertionError(f"expected {kind}, but the call returned")


def check_resume(device: str, folder: str, precision: str) -> str:
    data = tiny_data(folder)
    teacher = {
        "type": "train",
        "name": "net",
        "model": common.mlp([32], dropout=0.2),
        "training": training(
            augment={"shift": 1, "flip": False, "noise": 0, "mixup": 0, "cutmix": 0},
            mixedPrecision=precision,
            optimizer=SGD,
            schedule={"type": "cosine", "warmupEpochs": 1},
        ),
    }

    def request(out: str, resume: bool) -> dict[str, Any]:
        return common.train_teacher_request(
            data, os.path.join(folder, out), teacher, device=device, seed=5, resume=resume
        )

    reference = api.call("train_teacher", request("uninterrupted", False))
    expect_error("Cancelled", lambda: api.call("train_teacher", request("interrupted", False), Events(cancel_after=2)))
    events = Events()
    resumed = api.call("train_teacher", request("interrupted", True), events)
    assert any("resumed after epoch 2" in message for message in events.logs()), (
        f"no resume after epoch 2 in the logs: {events.logs()}"
    )
    assert [h["epoch"] for h in resumed["history"]] == [1, 2, 3, 4], resumed["history"]
    expected, labels = api.predict(reference["checkpoint"], data, "test", device=device)
    got, _ = api.predict(resumed["checkpoint"], data, "test", device=device)
    difference = float(np.abs(expected - got).max())
    assert difference <= TOLERANCE, f"max |outputs resumed - uninterrupted| = {difference:.3g} > {TOLERANCE:g}"
    return (
        f"max |outputs resumed - uninterrupted| = {difference:.3g} on {len(labels)} test rows; test errors "
        f"{resumed['metrics']['testErrors']} resumed, {reference['metrics']['testErrors']} uninterrupted"
    )


def check_divergence(device: str, folder: str) -> str:
    data = tiny_data(folder, n_train=96, n_test=32)
    # lr 1e-3 for epoch 1, then 1e35: a learning rate no network survives, after one good epoch
    diverging = {
        "type": "train",
        "name": "net",
        "model": common.mlp([8]),
        "training": training(schedule={"type": "step", "stepSize": 1, "gamma": 1e38, "warmupEpochs": 0}),
    }
    out_dir = os.path.join(folder, "diverged")
    diverged = Events()
    error = expect_error(
        "TrainingDivergedError",
        lambda: api.call(
            "train_teacher", common.train_teacher_request(data, out_dir, diverging, device=device), diverged
        ),
    )
    details = error.details  # type: ignore[attr-defined]
    assert details["epoch"] == 2 and details["lastGoodEpoch"] == 1, details
    assert details["stateFile"] and os.path.exists(details["stateFile"]), details
    good = [event["metrics"] for event in diverged.events if event.get("event") == "epoch"]
    assert len(good) == 1, f"expected one finished epoch before the divergence, got {len(good)}"
    # The kept state is epoch 1's: resumed with epochs 1, the run trains no further and saves the model of that state,
    # whose outputs must be finite and whose history is the diverged run's epoch 1. (Resuming to more epochs would
    # continue with the saved optimizer's learning rate, already the absurd one, whatever the request says.)
    kept = {**diverging, "training": {**diverging["training"], "epochs": 1}}
    events = Events()
    result = api.call(
        "train_teacher", common.train_teacher_request(data, out_dir, kept, device=device, resume=True), events
    )
    assert any("resumed after epoch 1" in message for message in events.logs()), (
        f"no resume after epoch 1 in the logs: {events.logs()}"
    )
    assert [h["epoch"] for h in result["history"]] == [1], result["history"]
    assert result["history"][0]["loss"] == good[0]["loss"], (result["history"][0], good[0])
    outputs, _ = api.predict(result["checkpoint"], data, "test", device=device)
    assert np.isfinite(outputs).all(), "the kept state's outputs are not finite"
    return (
        f"TrainingDivergedError at epoch {details['epoch']} step {details['step']}, last good epoch {details['lastGoodEpoch']} "
        f"kept; its model (resumed, epochs 1) gives finite outputs, loss {good[0]['loss']:.4f} as in epoch 1"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--device", default="cuda", help="cuda (default), cuda:N, or cpu to try the checks without a GPU"
    )
    args = parser.parse_args()

    doctor = api.call("doctor", {})
    if args.device.startswith("cuda") and not doctor["cuda"]:
        print(
            f"FAIL: --device {args.device}, but torch {doctor['torch']} sees no CUDA device; run this on a machine with a CUDA GPU"
        )
        return 1
    gpus = ", ".join(doctor["cudaDevices"]) or "none"
    print(f"device {args.device}; torch {doctor['torch']}; CUDA devices: {gpus}")
    checks: list[tuple[str, Callable[[str], str]]] = [
        ("resume, mixedPrecision off", lambda folder: check_resume(args.device, folder, "off")),
        ("resume, mixedPrecision bf16", lambda folder: check_resume(args.device, folder, "bf16")),
        ("divergence keeps the last good state", lambda folder: check_divergence(args.device, folder)),
    ]
    failed = 0
    for name, check in checks:
        with tempfile.TemporaryDirectory(prefix="distillery-reliability-") as folder:
            try:
                print(f"PASS {name}: {check(folder)}", flush=True)
            except Exception:
                failed += 1
                print(f"FAIL {name}:\n{traceback.format_exc()}", flush=True)
    print(f"{len(checks) - failed}/{len(checks)} checks passed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
