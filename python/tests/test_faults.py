"""Faults on the way: a real file-size limit while saving (disk full), and damaged state files met by --resume."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from distillery import api
from distillery.errors import CheckpointError
from distillery.progress import Progress
from helpers import damaged_copies, model_options, tiny_files, train_teacher_request, trained_teacher, training_options

PYTHON_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def request_for(tmp_path, epochs=3, **extra):
    data = tiny_files(tmp_path)
    teacher = trained_teacher(model_options("mlp", hidden=[32]), training=training_options(epochs=epochs, batchSize=32))
    return train_teacher_request(tmp_path / "out", teacher, data=data, **extra)


def left_behind(folder):
    return sorted(
        os.path.relpath(os.path.join(root, name), folder) for root, _, names in os.walk(folder) for name in names
    )


def test_a_file_size_limit_while_saving_is_an_output_error_with_no_partial_file_and_resume_finishes(tmp_path):
    request = request_for(tmp_path)
    request_file = tmp_path / "request.json"
    request_file.write_text(json.dumps(request))
    # RLIMIT_FSIZE makes every write past 4 KB fail with EFBIG (Python ignores SIGXFSZ): the epoch state file, the first
    # artefact, cannot be written — as on a full disk.
    script = (
        "import json, resource, sys\n"
        "resource.setrlimit(resource.RLIMIT_FSIZE, (4096, 4096))\n"
        "from distillery import api\nfrom distillery.errors import DistilleryError\n"
        "try:\n    api.call('train_teacher', json.load(open(sys.argv[1])))\n"
        "except DistilleryError as error:\n    print(json.dumps(error.to_json()))\n    sys.exit(3)\n"
    )
    env = {**os.environ, "PYTHONPATH": PYTHON_DIR}
    done = subprocess.run(
        [sys.executable, "-c", script, str(request_file)], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 3, done.stderr[-2000:]
    error = json.loads(done.stdout.strip().splitlines()[-1])
    assert error["type"] == "OutputError"
    assert error["file"].endswith(os.path.join("checkpoints", "teacher.state.pt"))
    assert "cannot write" in error["message"]
    out = tmp_path / "out"
    assert [name for name in left_behind(out) if name.endswith((".pt", ".onnx")) or ".tmp-" in name] == []

    result = api.call("train_teacher", {**request, "resume": True})  # the space is back: --resume finishes the job
    assert len(result["history"]) == 3 and os.path.exists(result["onnx"])


def test_a_damaged_state_file_on_resume_is_a_checkpoint_error_naming_it(tmp_path):
    request = request_for(tmp_path, epochs=4, export=False)

    class StopAfterEpoch2(Progress):
        def __init__(self):
            super().__init__(lambda event: event.get("event") == "epoch" and event["epoch"] == 2, min_interval_s=0.0)

    with pytest.raises(Exception, match="cancelled"):
        api.COMMANDS["train_teacher"](request, StopAfterEpoch2())
    state = tmp_path / "out" / "checkpoints" / "teacher.state.pt"
    original = state.read_bytes()
    for damaged in [b"", original[: len(original) // 2], *list(damaged_copies(original, seed=7, trials=3))[2:]]:
        state.write_bytes(damaged)
        try:
            result = api.call("train_teacher", {**request, "resume": True})
        except CheckpointError as error:
            assert error.file == str(state) and str(state) in error.message
        else:  # a flipped bit that lands in a weight still loads: it must then train to the end, never crash
            assert len(result["history"]) == 4
    state.write_bytes(original)
    assert len(api.call("train_teacher", {**request, "resume": True})["history"]) == 4
