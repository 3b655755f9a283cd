"""Distributed runs on CPU with gloo, through ``python -m distillery`` and torchrun (distributed.py): 2 ranks at
batch B/2 train the weights 1 rank trains at batch B; two "nodes" on localhost do too; a killed or stopped rank
fails the job within seconds with an error naming it and leaves no process behind; --resume continues across
ranks; bad distributed settings are refused naming the field."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time

import pytest
import torch

from distillery import distributed, spec
from distillery.errors import ConfigError
from helpers import (
    REPO_ROOT,
    experiment_request,
    method_options,
    model_options,
    student,
    tiny_files,
    trained_teacher,
    training_options,
    zod_default,
)

ENV = {**os.environ, "PYTHONPATH": os.path.join(REPO_ROOT, "python"), "OMP_NUM_THREADS": "1"}
SGD = {"type": "sgd", "lr": 0.1, "momentum": 0.9, "nesterov": False}


def request_file(folder, *, epochs=3, n_train=128, batch=32, out="out"):
    data = tiny_files(folder, n_train=n_train, n_test=32)
    # fp32: the equivalence is exact arithmetic up to summation order; under bf16 (what "auto" picks on a CPU with
    # native bf16, e.g. AVX-512 BF16 on Zen 5) a half batch rounds differently and the weights drift by ~4e-3.
    training = training_options(epochs=epochs, batchSize=batch, optimizer=SGD, mixedPrecision="off")
    request = experiment_request(
        os.path.join(folder, out),
        trained_teacher(model_options("mlp", hidden=[16]), training=training),
        [student("small", model_options("mlp", hidden=[8]), method_options("soft-targets"), training=training)],
        data=data,
    )
    request["distributed"] = zod_default(
        "distributed"
    )  # what `distillery run --nproc-per-node` writes; the flags change it
    path = os.path.join(folder, f"{out}.json")
    with open(path, "w", encoding="utf8") as handle:
        json.dump(request, handle)
    return path


def engine(*args):
    return [sys.executable, "-m", "distillery", "run_experiment", *map(str, args), "--jsonl"]


def envelope_of(stdout):
    """The one ``{ok, result | error}`` line among the launcher's lines, found as src/engine/distributed.ts finds it
    (by its ``ok`` key, not by position: a rank being stopped may still flush an event line)."""
    envelopes = []
    for line in stdout.splitlines():
        try:
            value = json.loads(line)
        except ValueError:
            continue
        if isinstance(value, dict) and "ok" in value:
            envelopes.append(value)
    assert len(envelopes) == 1, stdout[-3000:]
    return envelopes[0]


def launch(*args, timeout=180):
    done = subprocess.run(engine(*args), env=ENV, capture_output=True, text=True, timeout=timeout)
    return done.returncode, envelope_of(done.stdout), done


def weights(out_dir, name):
    return torch.load(os.path.join(out_dir, "checkpoints", f"{name}.pt"), weights_only=True)["state"]


def assert_close(a, b, tolerance=1e-5):
    assert a.keys() == b.keys()
    for key in a:
        assert torch.allclose(a[key], b[key], atol=tolerance, rtol=0), (key, float((a[key] - b[key]).abs().max()))


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def one_rank(tmp_path_factory):
    folder = tmp_path_factory.mktemp("one-rank")
    path = request_file(folder)
    code, envelope, done = launch(path, "--nproc-per-node", 1)
    assert code == 0, done.stderr[-3000:]
    return folder, envelope["result"]


def test_two_ranks_at_half_the_batch_train_the_weights_of_one_rank(one_rank, tmp_path):
    folder, single = one_rank
    path = request_file(tmp_path)
    code, envelope, done = launch(path, "--nproc-per-node", 2)
    assert code == 0, done.stderr[-3000:]
    result = envelope["result"]
    assert result["distributed"] == {"worldSize": 2, "backend": "gloo", "nodes": 1, "batch": "global"}
    assert single["distributed"]["worldSize"] == 1
    for name in ("teacher", "small"):
        assert_close(weights(tmp_path / "out", name), weights(folder / "out", name))
    # rank 0 alone reported progress: one phase-start per model, not one per rank
    events = [json.loads(line) for line in done.stdout.splitlines()[:-1]]
    assert sum(event.get("event") == "phase-start" for event in events) == 2
    assert os.path.exists(tmp_path / "out" / "small.onnx") and os.path.exists(tmp_path / "out" / "data" / "test.npz")


def test_two_nodes_on_localhost_train_the_weights_of_one_rank(one_rank, tmp_path):
    folder, _ = one_rank
    path, port = request_file(tmp_path), free_port()
    nodes = [
        subprocess.Popen(
            engine(
                path,
                "--nnodes",
                2,
                "--node-rank",
                rank,
                "--nproc-per-node",
                1,
                "--master-addr",
                "127.0.0.1",
                "--master-port",
                port,
            ),
            env=ENV,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for rank in (0, 1)
    ]
    outputs = [node.communicate(timeout=180) for node in nodes]
    assert [node.returncode for node in nodes] == [0, 0], [err[-2000:] for _, err in outputs]
    first, second = (envelope_of(out) for out, _ in outputs)
    assert first["result"]["distributed"] == {"worldSize": 2, "backend": "gloo", "nodes": 2, "batch": "global"}
    assert second == {"ok": True, "result": None}  # node 1 holds no rank 0: nothing to report
    for name in ("teacher", "small"):
        assert_close(weights(tmp_path / "out", name), weights(folder / "out", name))


def rank_pids(launcher_pid):
    """The worker processes of a launcher (its children running ``--worker``), by their RANK."""
    found = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="utf8") as handle:
                parent = int(handle.read().rsplit(")", 1)[1].split()[1])
            with open(f"/proc/{entry}/environ", "rb") as handle:
                environ = dict(item.split(b"=", 1) for item in handle.read().split(b"\0") if b"=" in item)
        except (OSError, IndexError, ValueError):
            continue
        if parent == launcher_pid and b"RANK" in environ:
            found[int(environ[b"RANK"])] = int(entry)
    return found


def alive(pid):
    try:
        with open(f"/proc/{pid}/stat", encoding="utf8") as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def start_and_wait_for_training(path, *extra):
    """A 2-rank launch, once both ranks exist and the teacher has finished an epoch (its state file is written)."""
    launcher = subprocess.Popen(
        engine(path, "--nproc-per-node", 2, *extra), env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    state = os.path.join(os.path.dirname(path), "out", "checkpoints", "teacher.state.pt")
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not (os.path.exists(state) and len(rank_pids(launcher.pid)) == 2):
        assert launcher.poll() is None, launcher.communicate()[1][-3000:]
        time.sleep(0.05)
    pids = rank_pids(launcher.pid)
    assert len(pids) == 2, "the ranks never started training"
    return launcher, pids


def test_a_killed_rank_fails_the_job_within_seconds_naming_it_and_resume_continues(tmp_path):
    path = request_file(tmp_path, epochs=30, n_train=1024)
    launcher, pids = start_and_wait_for_training(path)
    os.kill(pids[1], signal.SIGKILL)
    killed = time.monotonic()
    out, err = launcher.communicate(timeout=60)
    assert time.monotonic() - killed < 10, "the job outlived its dead rank"
    assert launcher.returncode == 1
    error = envelope_of(out)["error"]
    assert error["type"] == "RankFailedError", err[-3000:]
    assert error["details"]["rank"] == 1 and error["details"]["signal"] == "SIGKILL"
    assert "rank 1" in error["message"]
    assert not any(alive(pid) for pid in pids.values())
    # --resume on 2 ranks continues from the last epoch rank 0 saved, and finishes
    with open(path, encoding="utf8") as handle:
        request = json.load(handle)
    request["resume"] = True
    with open(path, "w", encoding="utf8") as handle:
        json.dump(request, handle)
    code, envelope, done = launch(path, "--nproc-per-node", 2)
    assert code == 0, done.stderr[-3000:]
    assert any("teacher: resumed after epoch" in line for line in done.stdout.splitlines())
    assert len(envelope["result"]["teacher"]["history"]) == 30


def test_a_stopped_rank_is_declared_hung_within_seconds(tmp_path):
    path = request_file(tmp_path, epochs=200, n_train=1024)
    with open(path, encoding="utf8") as handle:
        request = json.load(handle)
    request["distributed"] = {
        "nprocPerNode": 2,
        "nnodes": 1,
        "nodeRank": 0,
        "hangTimeoutSeconds": 3,
        "timeoutSeconds": 600,
    }
    with open(path, "w", encoding="utf8") as handle:
        json.dump(request, handle)
    launcher, pids = start_and_wait_for_training(path)
    os.kill(pids[1], signal.SIGSTOP)
    stopped = time.monotonic()
    try:
        out, err = launcher.communicate(timeout=60)
    finally:
        if alive(pids[1]):
            os.kill(pids[1], signal.SIGKILL)
    assert time.monotonic() - stopped < 12, "a hung rank kept the job waiting"
    error = envelope_of(out)["error"]
    assert error["type"] == "RankFailedError", err[-3000:]
    assert error["details"]["rank"] == 1 and error["details"]["reason"] == "hang"
    assert "rank 1" in error["message"] and "stopped responding" in error["message"]
    assert not any(alive(pid) for pid in pids.values())


HEARTBEATS = """
import datetime, os, sys, threading, time
from torch.distributed import PrefixStore, TCPStore
from distillery import distributed

server = TCPStore("127.0.0.1", 0, is_master=True, timeout=datetime.timedelta(seconds=10))
os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(server.port))
first, second = (distributed._Heartbeat(distributed.Context(rank, 2, rank, 1, "gloo"), 1.5) for rank in (0, 1))
first.start(); second.start()
time.sleep(2.5)
started = time.monotonic()
second.stop()
assert not second.is_alive() and time.monotonic() - started < 2, "a stopped heartbeat still runs"
assert PrefixStore("distillery-heartbeat", server).check(["done/1"]), "rank 1 did not say it was done"
time.sleep(4)  # rank 1 silent for more than 1.5 s: rank 0 would exit 75 if it still watched it
assert first.is_alive()
first.stop()
assert not any(thread.name == "distillery-heartbeat" for thread in threading.enumerate())
print("clean")
"""


def test_a_finished_rank_stops_its_heartbeat_and_is_not_taken_for_hung():
    # a finished rank's heartbeat is joined, not left inside a store call when the process ends, and the ranks still
    # working stop watching it instead of declaring it hung
    done = subprocess.run([sys.executable, "-c", HEARTBEATS], env=ENV, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and done.stdout.strip() == "clean", (done.returncode, done.stderr[-2000:])


def test_a_global_batch_that_does_not_split_over_the_ranks_is_refused(tmp_path):
    path = request_file(tmp_path, batch=33)
    code, envelope, _ = launch(path, "--nproc-per-node", 2)
    assert code == 1
    assert envelope["error"]["type"] == "ConfigError" and envelope["error"]["field"] == "training.batchSize"
    assert "does not split evenly over 2 ranks" in envelope["error"]["message"]


def launch_spec(**flags):
    """The zod-completed distributed block with the command line's ``flags`` (camelCase) on top, as the launcher
    parses it."""
    options = distributed.launch_options(zod_default("distributed"), flags)
    assert options is not None
    return options


@pytest.mark.parametrize(
    ("flags", "field", "words"),
    [
        ({"nprocPerNode": 0}, "distributed.nprocPerNode", "expected an integer >= 1"),
        ({"nnodes": 2, "nodeRank": 2, "masterAddr": "h"}, "distributed.nodeRank", "expected 0..1 for 2 nodes"),
        ({"nnodes": 2, "nodeRank": 1}, "distributed.masterAddr", "needs the address of node 0"),
    ],
)
def test_bad_launch_settings_are_refused_naming_the_field(flags, field, words):
    with pytest.raises(ConfigError) as caught:
        distributed.check_launch(launch_spec(**flags))
    assert caught.value.field == field and words in caught.value.message


def test_the_flags_change_the_request_block_and_a_flag_left_out_keeps_its_value():
    block = {**zod_default("distributed"), "hangTimeoutSeconds": 3, "nnodes": 2, "masterAddr": "h"}
    options = distributed.launch_options(block, {"nprocPerNode": 4, "nodeRank": 1, "nnodes": None, "masterPort": None})
    assert options == spec.parse(spec.Distributed, {**block, "nprocPerNode": 4, "nodeRank": 1}, "distributed")
    assert (options.nproc_per_node, options.node_rank, options.nnodes, options.hang_timeout_seconds) == (4, 1, 2, 3.0)
    assert distributed.launch_options(None, {"nprocPerNode": None}) is None  # neither a block nor a flag: one process


def test_the_launch_fills_no_default_of_its_own():
    block = zod_default("distributed")
    del block["timeoutSeconds"]
    with pytest.raises(ConfigError) as caught:
        distributed.launch_options(block, {"nprocPerNode": 2})
    assert caught.value.field == "distributed.timeoutSeconds" and "missing" in caught.value.message
    with pytest.raises(ConfigError) as caught:  # flags alone: the keys zod fills are nowhere
        distributed.launch_options(None, {"nprocPerNode": 2})
    assert caught.value.field == "distributed" and "no distributed block" in caught.value.message


def test_distributed_flags_on_another_command_are_refused(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "distillery", "doctor", "--nproc-per-node", "2", "--jsonl"],
        env=ENV,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1
    assert "apply to run_experiment" in envelope_of(done.stdout)["error"]["message"]


def test_more_ranks_on_a_node_than_it_has_gpus_is_refused_before_joining(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    for key, value in {"RANK": "1", "WORLD_SIZE": "2", "LOCAL_RANK": "1", "LOCAL_WORLD_SIZE": "2"}.items():
        monkeypatch.setenv(key, value)
    with pytest.raises(ConfigError) as caught:
        distributed.init_worker("cuda")
    assert caught.value.field == "distributed.nprocPerNode"
    assert "2 ranks on this node, but it has 1 CUDA devices" in caught.value.message
    assert not distributed.current().active


def test_two_ranks_write_each_students_validation_predictions_once_from_rank_0(tmp_path):
    """k-fold selection's fold runs under torchrun: one fold held out, checkpoints only, the evidence written whole."""
    path = request_file(tmp_path, epochs=1, n_train=96)
    with open(path, encoding="utf8") as handle:
        request = json.load(handle)
    request["data"]["validation"] = {"type": "fold", "folds": 3, "fold": 0}
    request["export"] = False
    with open(path, "w", encoding="utf8") as handle:
        json.dump(request, handle)
    code, envelope, done = launch(path, "--nproc-per-node", 2)
    assert code == 0, done.stderr[-3000:]
    (small,) = envelope["result"]["students"]
    assert small["onnx"] is None
    with open(small["validationPredictions"], encoding="utf8") as handle:
        evidence = json.load(handle)
    assert evidence["rows"] == len(evidence["prediction"]) == 32
    right = sum(p == t for p, t in zip(evidence["prediction"], evidence["target"], strict=True))
    assert right / 32 == pytest.approx(small["metrics"]["validationAccuracy"])
