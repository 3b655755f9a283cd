"""Reliability (issue 7): bad inputs raise typed errors naming the field or file; a full disk or an unwritable
folder leaves nothing under a final name; divergence keeps the last good state; nothing unpickles user data;
every artefact is written atomically. docs/ERRORS.md lists each case with its test."""

from __future__ import annotations

import errno
import json
import os
import re
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest
import torch

from distillery import api
from distillery import io as dio
from distillery.checkpoints import load_checkpoint, load_torch_file, save_checkpoint
from distillery.data import load_data
from distillery.errors import CheckpointError, ConfigError, DataError, OutputError, TrainingDivergedError
from distillery.models import build_model
from distillery.progress import Progress, Silent
from distillery.train import Objective, fit
from helpers import (
    CPU,
    OPSET,
    data_spec,
    file_source_options,
    method_spec,
    mnist_data,
    model_options,
    model_spec,
    tiny_bundle,
    train_teacher_request,
    trained_teacher,
    training_options,
    training_spec,
)

PACKAGE_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "distillery")


def _good(folder, name="good.npz", n=10, features=4, classes=3):
    path = os.path.join(folder, name)
    np.savez(path, x=np.random.default_rng(0).normal(size=(n, features)).astype(np.float32), y=np.arange(n) % classes)
    return path


def _npz(folder, name, **arrays):
    path = os.path.join(folder, name)
    np.savez(path, **arrays)
    return path


def _config(train, test, **extra):
    """A typed data config reading two files (zod's defaults for the rest)."""
    return data_spec(train=file_source_options(train), test=file_source_options(test), **extra)


def _hard_labels():
    return Objective(method_spec("hard-labels"), "classification")


# 96 samples (tiny_bundle) in batches of 32: 3 steps per epoch of plain SGD — the step counts below rely on it.
SGD = {"type": "sgd", "lr": 0.05, "momentum": 0.9, "nesterov": False}


def _leftovers(folder):
    return sorted(name for _root, _dirs, files in os.walk(folder) for name in files)


# ------------------------------------------------------------------ data: dtypes, shapes, pickles


class _Trap:
    """Unpickling this creates a folder: proof that code ran."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.mkdir, (self.marker,))


@pytest.mark.parametrize("kind", ["npy", "npz"])
def test_object_arrays_are_refused_without_unpickling(tmp_path, kind):
    marker = str(tmp_path / "code-ran")
    objects = np.array([_Trap(marker), 1.0], dtype=object)
    if kind == "npy":
        path = str(tmp_path / "x.npy")
        np.save(path, objects, allow_pickle=True)
        field = "data.train.path"
    else:
        path = str(tmp_path / "x.npz")
        np.savez(path, x=objects, y=np.array([0, 1]))
        field = "data.train.path"
    with pytest.raises(DataError) as caught:
        load_data(_config(path, _good(str(tmp_path))), CPU)
    assert caught.value.field == field and caught.value.file == path
    assert "dtype object" in caught.value.message and "refused" in caught.value.message
    assert not os.path.exists(marker)


BAD_DATA = {
    # name: (arrays of the training file, extra config, error type, field, message pattern)
    "string labels": (
        dict(x=np.ones((4, 4), np.float32), y=np.array(["a", "b", "a", "b"])),
        {},
        DataError,
        "data.train.y",
        r"y must be numeric .* got dtype <U1",
    ),
    "string inputs": (
        dict(x=np.array([["a", "b"], ["c", "d"]]), y=np.array([0, 1])),
        {},
        DataError,
        "data.train.x",
        r"x must be numeric, got dtype <U1",
    ),
    "bool inputs": (
        dict(x=np.ones((4, 4), bool), y=np.array([0, 1, 0, 1])),
        {},
        DataError,
        "data.train.x",
        r"got dtype bool",
    ),
    "complex inputs": (
        dict(x=np.ones((4, 4), complex), y=np.array([0, 1, 0, 1])),
        {},
        DataError,
        "data.train.x",
        r"got dtype complex128",
    ),
    "0-d x": (dict(x=np.float32(3.0), y=np.array([0])), {}, DataError, "data.train.x", r"one entry per sample"),
    "0-d y": (
        dict(x=np.ones((4, 4), np.float32), y=np.int64(1)),
        {},
        DataError,
        "data.train.y",
        r"one entry per sample",
    ),
    "one-hot labels": (
        dict(x=np.ones((4, 4), np.float32), y=np.eye(2)[[0, 1, 0, 1]]),
        {},
        DataError,
        "data.train.y",
        r"one integer per sample, shape \[N\], got \[4, 2\]",
    ),
    "a single class": (
        dict(x=np.ones((4, 4), np.float32), y=np.zeros(4, int)),
        {},
        DataError,
        "data.train.y",
        r"at least 2 classes",
    ),
    "labels beyond the class count": (
        dict(x=np.ones((4, 4), np.float32), y=np.array([0, 1, 2, 5])),
        {"numClasses": 3},
        DataError,
        "data.train.y",
        r"labels must lie in \[0, 2\] for 3 classes, found 5",
    ),
    "infinite inputs": (
        dict(x=np.array([[0.0, 1.0, 2.0, 3.0], [np.inf, 0, 0, 0]]), y=np.array([0, 1])),
        {},
        DataError,
        "data.train.x",
        r"NaN or Infinity \(first at row 1\)",
    ),
    "NaN labels": (
        dict(x=np.ones((4, 4), np.float32), y=np.array([0, 1, np.nan, 1])),
        {},
        DataError,
        "data.train.y",
        r"y holds NaN or Infinity",
    ),
}


@pytest.mark.parametrize("case", list(BAD_DATA))
def test_bad_arrays_raise_data_error_naming_field_and_file(tmp_path, case):
    arrays, extra, error_type, field, pattern = BAD_DATA[case]
    path = _npz(str(tmp_path), "train.npz", **arrays)
    with pytest.raises(error_type) as caught:
        load_data(_config(path, _good(str(tmp_path)), **extra), CPU)
    assert type(caught.value) is error_type
    assert caught.value.field == field
    assert caught.value.file == path
    assert re.search(pattern, caught.value.message), caught.value.message


def test_test_split_errors_name_the_test_file(tmp_path):
    """Shape and label errors found when the tensors are built name the file too, not only the field."""
    train = _good(str(tmp_path))
    wide = _npz(str(tmp_path), "wide.npz", x=np.ones((3, 5), np.float32), y=np.array([0, 1, 2]))
    with pytest.raises(DataError) as caught:
        load_data(_config(train, wide), CPU)
    assert (caught.value.field, caught.value.file) == ("data.test.x", wide)
    far = _npz(str(tmp_path), "far.npz", x=np.ones((3, 4), np.float32), y=np.array([0, 1, 9]))
    with pytest.raises(DataError) as caught:
        load_data(_config(train, far), CPU)
    assert (caught.value.field, caught.value.file) == ("data.test.y", far)


def test_regression_targets_of_another_width_are_refused(tmp_path):
    train = _npz(str(tmp_path), "train.npz", x=np.ones((4, 4), np.float32), y=np.ones((4, 3)))
    test = _npz(str(tmp_path), "test.npz", x=np.ones((4, 4), np.float32), y=np.ones((4, 2)))
    with pytest.raises(DataError) as caught:
        load_data(_config(train, test, task="regression"), CPU)
    assert (caught.value.field, caught.value.file) == ("data.test.y", test)
    assert "targets have 2 values per sample, but data.train's have 3" in caught.value.message


# ------------------------------------------------------------------ models whose outputs do not fit the data


def test_custom_model_with_the_wrong_output_size_is_a_config_error():
    config = model_spec("custom", module="torch.nn:Linear", kwargs={"in_features": 4, "out_features": 5})
    with pytest.raises(ConfigError) as caught:
        build_model(config, [4], 3, where="students[0].model")
    assert caught.value.field == "students[0].model.module"
    assert "returns outputs of shape [2, 5]" in caught.value.message and "expected [2, 3]" in caught.value.message


def test_custom_model_that_cannot_take_the_inputs_is_a_config_error():
    config = model_spec("custom", module="torch.nn:Linear", kwargs={"in_features": 7, "out_features": 3})
    with pytest.raises(ConfigError) as caught:
        build_model(config, [4], 3, where="teacher.model")
    assert caught.value.field == "teacher.model.module"
    assert "cannot run on samples of shape [4]" in caught.value.message


@pytest.mark.parametrize("target", ["os:system", "subprocess:getoutput", "builtins:eval"])
def test_custom_module_must_be_an_nn_module_class_even_inside_a_checkpoint(tmp_path, target):
    """`custom` imports a class by design, but nothing but a torch.nn.Module class is ever called — not from a
    config, and not from the model config recorded in a (possibly foreign) checkpoint, which weights_only=True
    alone would not stop."""
    marker = tmp_path / "code-ran"
    payloads = {
        "os:system": {"command": f"touch {marker}"},
        "subprocess:getoutput": {"cmd": f"touch {marker}"},
        "builtins:eval": {"source": f"open({str(marker)!r}, 'w')"},
    }
    config = model_options("custom", module=target, kwargs=payloads[target])
    with pytest.raises(ConfigError) as caught:
        build_model(model_spec(**config, kind="custom"), [4], 3, where="teacher.model")
    assert caught.value.field == "teacher.model.module"
    assert caught.value.message == f"teacher.model.module: '{target}' is not a torch.nn.Module class"
    good = str(tmp_path / "good.pt")
    save_checkpoint(
        good,
        module=build_model(model_spec("mlp", hidden=[4]), [4], 3),
        model_config=model_spec("mlp", hidden=[4]),
        task="classification",
        input_shape=[4],
        num_outputs=3,
        labels=["a", "b", "c"],
        normalization=None,
        meta={},
    )
    payload = torch.load(good, weights_only=True)
    payload["model"] = json.dumps(config)
    forged = str(tmp_path / "forged.pt")
    torch.save(payload, forged)
    with pytest.raises(CheckpointError) as refused:
        load_checkpoint(forged, CPU)
    assert refused.value.file == forged
    assert f"'{target}' is not a torch.nn.Module class" in refused.value.message
    assert not marker.exists()


# ------------------------------------------------------------------ output folders and full disks


def _enospc(*_args, **_kwargs):
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def _half_then_enospc(temporary, _data):
    """io.write_bytes on a full disk: half a file reaches the temporary path, then ENOSPC."""
    with open(temporary, "wb") as handle:
        handle.write(b"half a file")
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def test_full_disk_while_saving_a_checkpoint_leaves_nothing_under_the_final_name(tmp_path, monkeypatch):
    final = str(tmp_path / "checkpoints" / "teacher.pt")
    monkeypatch.setattr(dio, "write_bytes", _half_then_enospc)
    model = build_model(model_spec("mlp", hidden=[4]), [3], 2)
    with pytest.raises(OutputError) as caught:
        save_checkpoint(
            final,
            module=model,
            model_config=model_spec("mlp", hidden=[4]),
            task="classification",
            input_shape=[3],
            num_outputs=2,
            labels=["a", "b"],
            normalization=None,
            meta={},
        )
    assert caught.value.file == final
    assert caught.value.message == f"cannot write {final}: no space left on the device"
    assert _leftovers(tmp_path) == []  # no final file, no temporary


def test_full_disk_while_saving_arrays_keeps_the_old_file(tmp_path, monkeypatch):
    final = str(tmp_path / "test.npz")
    np.savez(final, x=np.zeros(2))
    monkeypatch.setattr(np, "savez_compressed", lambda handle, **_arrays: (handle.write(b"half"), _enospc()))
    with pytest.raises(OutputError) as caught:
        dio.atomic_save_npz(final, x=np.ones(3))
    assert "no space left on the device" in caught.value.message and caught.value.file == final
    assert _leftovers(tmp_path) == ["test.npz"]
    with np.load(final) as arrays:
        assert arrays["x"].tolist() == [0.0, 0.0]


def test_full_disk_during_onnx_export_is_an_output_error_not_an_export_error(tmp_path, monkeypatch):
    import onnx

    from distillery.export import export_onnx, metadata_props

    model = build_model(model_spec("mlp", hidden=[4]), [3], 2).eval()
    metadata = metadata_props(
        name="s",
        role="student",
        task="classification",
        input_shape=[3],
        output_kind="logits",
        normalization=None,
        labels=["a", "b"],
        model_config={"type": "mlp"},
        method=None,
        teacher=None,
        training=None,
        metrics=None,
        params=1,
        flops=1,
    )
    monkeypatch.setattr(onnx, "save", _enospc)
    final = str(tmp_path / "s.onnx")
    with pytest.raises(OutputError) as caught:
        export_onnx(model, [3], final, metadata, task="classification", opset=OPSET)
    assert caught.value.file == final and "no space left on the device" in caught.value.message
    assert _leftovers(tmp_path) == []


def test_full_disk_while_saving_the_epoch_state_stops_training_with_an_output_error(tmp_path, monkeypatch):
    bundle = tiny_bundle()
    state = str(tmp_path / "net.state.pt")
    monkeypatch.setattr(dio, "write_bytes", _half_then_enospc)
    model = build_model(model_spec("mlp", hidden=[8]), bundle.sample_shape, bundle.num_outputs)
    with pytest.raises(OutputError) as caught:
        fit(
            model,
            bundle,
            training_spec(epochs=2, batchSize=32, optimizer=SGD),
            _hard_labels(),
            CPU,
            Silent(),
            phase="teacher",
            name="net",
            seed=0,
            state_path=state,
        )
    assert caught.value.file == state
    assert _leftovers(tmp_path) == []


def test_an_output_folder_under_a_regular_file_fails_before_training(tmp_path):
    """Tests run as root, and root ignores permission bits (chmod 0555 would not stop it): a folder whose
    parent is a regular file fails for everyone (ENOTDIR)."""
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    out_dir = str(blocker / "out")
    events = []
    request = train_teacher_request(
        out_dir,
        trained_teacher(model_options("mlp", hidden=[8]), training=training_options(epochs=1)),
        data=mnist_data(64, 32),
    )
    with pytest.raises(OutputError) as caught:
        api.COMMANDS["train_teacher"](request, Progress(events.append))
    assert caught.value.field == "outDir" and caught.value.file == out_dir
    assert caught.value.message == f"outDir: cannot write {out_dir}: a part of the path is a file, not a folder"
    assert events == []  # nothing was trained
    with pytest.raises(OutputError) as caught:
        dio.ensure_writable_dir(str(blocker))  # the folder itself is a file
    assert "it exists and is not a folder" in caught.value.message


def test_stale_temporaries_are_removed_and_nothing_else(tmp_path):
    (tmp_path / "checkpoints").mkdir()
    (tmp_path / "checkpoints" / ".tmp-abc123-hard.state.pt").write_bytes(b"half")
    (tmp_path / ".tmp-4242-report.json").write_text("{")
    (tmp_path / "hard.onnx").write_bytes(b"kept")
    (tmp_path / "notes.tmp-1").write_text("kept: not one of our temporaries")
    removed = dio.remove_stale_temporaries(str(tmp_path))
    assert sorted(os.path.basename(path) for path in removed) == [".tmp-4242-report.json", ".tmp-abc123-hard.state.pt"]
    assert _leftovers(tmp_path) == ["hard.onnx", "notes.tmp-1"]


# ------------------------------------------------------------------ divergence keeps the last good state


class _Poisoned(Objective):
    """Hard labels, except that call number ``at`` returns a finite loss (0) whose gradient is NaN
    (d sqrt(u)/du at u = 0 is infinite, times du/d(outputs) = 0): the weights become NaN while the loss looks fine."""

    def __init__(self, at):
        super().__init__(method_spec("hard-labels"), "classification")
        self.at, self.calls = at, 0

    def __call__(self, outputs, teacher_outputs, labels, epoch, epochs, mix=None):
        self.calls += 1
        if self.calls == self.at:
            return torch.sqrt((outputs * 0).sum()), {}
        return super().__call__(outputs, teacher_outputs, labels, epoch, epochs, mix)


def _assert_state_is_epoch(state_path, epoch):
    state = load_torch_file(state_path)
    assert state["epoch"] == epoch and len(state["history"]) == epoch
    assert all(torch.isfinite(value).all() for value in state["model"].values() if value.is_floating_point())


def test_a_nan_loss_keeps_the_last_good_epoch_state(tmp_path):
    bundle = tiny_bundle()  # 96 samples, batch 32: 3 steps per epoch
    state_path = str(tmp_path / "net.state.pt")
    # Epoch 1 is sane; from epoch 2 the learning rate is multiplied by 1e30 and the loss blows up.
    training = training_spec(
        epochs=4,
        batchSize=32,
        optimizer=SGD,
        schedule={"type": "step", "stepSize": 1, "gamma": 1e30, "warmupEpochs": 0},
    )
    model = build_model(model_spec("mlp", hidden=[8]), bundle.sample_shape, bundle.num_outputs)
    with pytest.raises(TrainingDivergedError) as caught:
        fit(
            model,
            bundle,
            training,
            _hard_labels(),
            CPU,
            Silent(),
            phase="teacher",
            name="net",
            seed=0,
            state_path=state_path,
        )
    details = caught.value.details
    assert details["epoch"] == 2 and details["step"] >= 2
    assert details["lastGoodEpoch"] == 1 and details["stateFile"] == state_path
    assert f"the state after epoch 1 is kept in {state_path}" in caught.value.message
    _assert_state_is_epoch(state_path, 1)


def test_weights_made_nan_by_an_epochs_last_step_never_reach_the_state_file(tmp_path):
    bundle = tiny_bundle()
    state_path = str(tmp_path / "net.state.pt")
    model = build_model(model_spec("mlp", hidden=[8]), bundle.sample_shape, bundle.num_outputs)
    with pytest.raises(TrainingDivergedError) as caught:
        fit(
            model,
            bundle,
            training_spec(epochs=3, batchSize=32, optimizer=SGD),
            _Poisoned(at=6),
            CPU,
            Silent(),
            phase="teacher",
            name="net",
            seed=0,
            state_path=state_path,
        )
    assert (caught.value.details["epoch"], caught.value.details["step"]) == (2, 3)
    assert "the weights became NaN or infinite at epoch 2, step 3" in caught.value.message
    _assert_state_is_epoch(state_path, 1)


# ------------------------------------------------------------------ atomic writes: a SIGKILL mid-export


_KILLED_EXPORT = textwrap.dedent("""
    import json, sys, time
    import torch
    from distillery import export
    from distillery.export import export_onnx, metadata_props
    from distillery.models import build_model
    from distillery.spec import ModelSpec, parse

    final, marker, model_config = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
    def stall(*_args, **_kwargs):  # the file is written under its temporary name: say so, then wait to be killed
        open(marker, "w").close()
        time.sleep(120)
    export._parity = stall
    model = build_model(parse(ModelSpec, model_config), [3], 2).eval()
    metadata = metadata_props(name="s", role="student", task="classification", input_shape=[3],
                              output_kind="logits", normalization=None, labels=["a", "b"],
                              model_config=model_config, method=None, teacher=None, training=None, metrics=None,
                              params=1, flops=1)
    export_onnx(model, [3], final, metadata, task="classification", opset=18)  # the zod default, export.opset
""")


def test_sigkill_during_export_leaves_no_onnx_under_the_final_name(tmp_path):
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    final, marker = str(out_dir / "s.onnx"), str(tmp_path / "written")
    env = {**os.environ, "PYTHONPATH": os.path.dirname(PACKAGE_DIR)}
    model_config = json.dumps(model_options("mlp", hidden=[4]))
    child = subprocess.Popen(
        [sys.executable, "-c", _KILLED_EXPORT, final, marker, model_config], env=env, stderr=subprocess.DEVNULL
    )
    try:
        deadline = time.monotonic() + 90
        while not os.path.exists(marker):
            assert child.poll() is None, "the export process ended before it was killed"
            assert time.monotonic() < deadline
            time.sleep(0.05)
        os.kill(child.pid, signal.SIGKILL)
        child.wait(10)
    finally:
        if child.poll() is None:
            child.kill()
    names = os.listdir(out_dir)
    assert "s.onnx" not in names
    assert (
        len(names) == 1 and names[0].startswith(".tmp-") and names[0].endswith("-s.onnx")
    )  # the killed write, by its name
    dio.remove_stale_temporaries(str(out_dir))  # what the next run (run_experiment) does first
    assert os.listdir(out_dir) == []


# ------------------------------------------------------------------ source scans (beside the behavioural tests)


def _sources():
    """Every module of the engine, sub-packages (methods/) included, by its path under distillery/."""
    found = []
    for root, _dirs, files in os.walk(PACKAGE_DIR):
        found += [os.path.relpath(os.path.join(root, name), PACKAGE_DIR) for name in files if name.endswith(".py")]
    assert "methods/registry.py" in found  # the walk reaches the sub-packages
    for name in sorted(found):
        with open(os.path.join(PACKAGE_DIR, name), encoding="utf8") as handle:
            yield name.replace(os.sep, "/"), handle.read().splitlines()


def test_every_artefact_write_goes_through_a_temporary_name():
    """torch.save / np.save* / onnx.save / open(…, 'w…') / copies may only target the temporary path that
    io.atomic_path hands out; only io.py renames files into place."""
    writer = re.compile(r"torch\.save\(|np\.save\w*\(|onnx\.save\(|shutil\.copy\w*\(|open\([^)]*[\"'][wax]b?[\"']")
    offenders = []
    for name, lines in _sources():
        for number, line in enumerate(lines, 1):
            code = line.split("#")[0]
            in_memory = "torch.save(value, buffer)" in code  # io.atomic_torch_save serialises into memory first
            if (
                writer.search(code)
                and not in_memory
                and "temporary" not in " ".join(lines[max(0, number - 2) : number])
            ):
                offenders.append(f"{name}:{number}: {line.strip()}")
            if re.search(r"os\.(replace|rename)\(", code) and name != "io.py":
                offenders.append(f"{name}:{number}: {line.strip()}")
    assert offenders == []


def test_no_pickle_eval_or_stray_imports_of_user_data():
    """np.load always with allow_pickle=False, torch.load always weights_only=True, no pickle/eval/exec, and
    user code imported only for `model.type: custom` (models._custom)."""
    offenders = []
    for name, lines in _sources():
        for number, line in enumerate(lines, 1):
            code = line.split("#")[0]
            where = f"{name}:{number}: {line.strip()}"
            if "np.load(" in code and "allow_pickle=False" not in code:
                offenders.append(where)
            if (
                "torch.load(" in code
                and "weights_only=True" not in code
                and not code.strip().startswith(('"', "Loaded"))
            ):
                offenders.append(where)
            if re.search(
                r"\bimport pickle\b|\bpickle\.load|(?<![.\w])eval\(|(?<![.\w])exec\("
                r"|allow_pickle=True|weights_only=False",
                code,
            ):
                offenders.append(where)
            # methods/__init__.py imports its own package's modules (f"{__name__}.…"), and spec.py a Variant's
            # members_module (a class attribute, checked below) — never a name from a request
            own_modules = (name == "methods/__init__.py" and 'import_module(f"{__name__}.' in code) or (
                name == "spec.py" and "import_module(base.members_module)" in code
            )
            if "import_module(" in code and name != "models.py" and not own_modules:
                offenders.append(where)
            if "__import__(" in code and not (name == "api.py" and "__import__(package)" in code):
                offenders.append(where)
    assert offenders == []
    from distillery import spec

    variants = [cls for cls in vars(spec).values() if isinstance(cls, type) and issubclass(cls, spec.Variant)]
    assert all(cls.members_module is None or cls.members_module.startswith("distillery.") for cls in variants)
    with open(os.path.join(PACKAGE_DIR, "models.py"), encoding="utf8") as handle:
        source = handle.read()
    # the one import of user code sits in the builder of `type: custom` models
    assert source.count("import_module(") == 1
    assert re.search(r"def _custom\([^)]*\)[^\n]*\n(?:.*\n){0,12}.*import_module\(", source)
    assert re.search(r"if isinstance\(config, CustomModel\):\n\s+return _custom\(", source)
