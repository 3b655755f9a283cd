"""bridge.py, in a subprocess: importing it re-points stdout at stderr and installs signal handlers,
which must not happen to pytest's own process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from helpers import (
    REPO_ROOT,
    file_data,
    file_source_options,
    model_options,
    train_teacher_request,
    trained_teacher,
    training_options,
)

SCRIPT = textwrap.dedent("""
    import json, os, signal, sys, time

    real_stdout = os.fdopen(os.dup(1), "w")  # kept before the import re-points fd 1
    import distillery.bridge as bridge

    print("PRINTED-AFTER-IMPORT")
    sys.stdout.flush()
    os.write(1, b"WRITTEN-TO-FD-1\\n")

    folder = sys.argv[1]
    # complete requests, built by the test from zod's defaults
    with open(os.path.join(folder, "requests.json")) as handle:
        requests = json.load(handle)
    report = {
        "sigint_ignored": signal.getsignal(signal.SIGINT) == signal.SIG_IGN,
        "sigusr1_cancels": signal.getsignal(signal.SIGUSR1) is bridge._on_cancel_signal,
        "hello": json.loads(bridge.invoke("hello", "{}")),
        "unknown": json.loads(bridge.invoke("no-such-command", "{}")),
        "data_error": json.loads(bridge.invoke("write_split", json.dumps(requests["write_split"]))),
        "config_error": json.loads(
            bridge.invoke("write_split", json.dumps({**requests["write_split"], "where": "students[0]"}))
        ),
        "bad_json": json.loads(bridge.invoke("hello", "{not json")),
    }

    request = requests["train_teacher"]

    events = []
    def on_event(text):
        events.append(json.loads(text))
        if events[-1]["event"] == "phase-start":
            os.kill(os.getpid(), signal.SIGUSR1)  # what the Node side sends on abort
    report["cancel"] = json.loads(bridge.invoke("train_teacher", json.dumps(request), on_event))
    report["cancel_events"] = [event["event"] for event in events]

    os.kill(os.getpid(), signal.SIGUSR1)  # a stray signal between calls
    time.sleep(0.05)
    request["teacher"]["training"]["epochs"] = 1
    report["after_stray_signal"] = json.loads(bridge.invoke("train_teacher", json.dumps(request)))

    real_stdout.write(json.dumps(report))
    real_stdout.flush()
""")


@pytest.fixture(scope="module")
def bridge_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("bridge")
    rng = np.random.default_rng(0)
    np.savez(folder / "train.npz", x=rng.normal(size=(64, 5)).astype(np.float32), y=np.arange(64) % 2)
    missing = file_source_options(folder / "missing.npz")
    requests = {
        "write_split": {"data": file_data(missing, missing), "split": "test", "path": str(folder / "out.npz")},
        # 50 epochs of 16 steps: long enough to be cancelled; export: false, so the second call is only one epoch
        "train_teacher": train_teacher_request(
            folder / "out",
            trained_teacher(
                model_options("mlp", hidden=[8]),
                training=training_options(
                    epochs=50, batchSize=4, optimizer={"type": "sgd", "lr": 0.01, "momentum": 0.9, "nesterov": False}
                ),
            ),
            data=file_data(folder / "train.npz", folder / "train.npz"),
            export=False,
        ),
    }
    (folder / "requests.json").write_text(json.dumps(requests))
    script = folder / "drive_bridge.py"
    script.write_text(SCRIPT)
    env = {**os.environ, "PYTHONPATH": os.path.join(REPO_ROOT, "python")}
    completed = subprocess.run(
        [sys.executable, str(script), str(folder)], cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    return json.loads(completed.stdout), completed.stdout, completed.stderr, folder


def test_import_points_stdout_at_stderr(bridge_run):
    report, stdout, stderr, _ = bridge_run
    assert "PRINTED-AFTER-IMPORT" in stderr and "WRITTEN-TO-FD-1" in stderr
    assert "PRINTED-AFTER-IMPORT" not in stdout and "WRITTEN-TO-FD-1" not in stdout
    assert json.loads(stdout) == report  # nothing else reached the real stdout


def test_import_installs_signal_handlers(bridge_run):
    report = bridge_run[0]
    assert report["sigint_ignored"] and report["sigusr1_cancels"]


def test_hello_returns_an_ok_envelope(bridge_run):
    hello = bridge_run[0]["hello"]
    assert hello["ok"] is True
    assert set(hello["result"]) >= {"distillery", "python", "torch", "cuda", "pid"}


def test_unknown_command_returns_an_error_envelope(bridge_run):
    unknown = bridge_run[0]["unknown"]
    assert unknown["ok"] is False
    error = unknown["error"]
    assert error["type"] == "ConfigError" and error["field"] == "command"  # api.call's own error: one dispatcher
    assert "no-such-command" in error["message"]


def test_distillery_error_becomes_a_typed_envelope(bridge_run):
    report, _, _, folder = bridge_run
    envelope = report["data_error"]
    assert envelope["ok"] is False
    error = envelope["error"]
    assert set(error) == {"type", "message", "field", "file", "details", "traceback"}
    assert error["type"] == "DataError"
    assert error["field"] == "data.test.path"
    assert error["file"] == str(folder / "missing.npz")
    assert error["traceback"].startswith("Traceback") and "DataError" in error["traceback"]
    assert not (folder / "out.npz").exists()


def test_a_request_the_parser_refuses_becomes_a_config_error_envelope(bridge_run):
    error = bridge_run[0]["config_error"]["error"]
    assert bridge_run[0]["config_error"]["ok"] is False
    assert (error["type"], error["field"]) == ("ConfigError", "where")  # the old hidden key is gone: unknown, named
    assert error["message"].startswith("where: unknown field")


def test_other_exceptions_become_envelopes_too(bridge_run):
    error = bridge_run[0]["bad_json"]["error"]
    assert bridge_run[0]["bad_json"]["ok"] is False
    assert error["type"] == "JSONDecodeError" and error["message"]
    assert error["field"] is None and error["file"] is None and "Traceback" in error["traceback"]


def test_sigusr1_cancels_a_running_command(bridge_run):
    report = bridge_run[0]
    assert report["cancel"]["ok"] is False
    assert report["cancel"]["error"]["type"] == "Cancelled"
    assert "phase-start" in report["cancel_events"]
    assert report["cancel_events"].count("epoch") < 50  # stopped long before the 50 epochs


def test_a_signal_between_calls_does_not_cancel_the_next_call(bridge_run):
    after = bridge_run[0]["after_stray_signal"]
    assert after["ok"] is True, after
    assert after["result"]["role"] == "teacher" and len(after["result"]["history"]) == 1
