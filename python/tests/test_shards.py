"""shards.py: inputs larger than memory, as memory-mapped .npy shards read in chunks — the same training as in
memory."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from distillery import api, shards
from distillery.checkpoints import load_checkpoint
from distillery.data import embedded_mnist, load_data, normalization_for, read_source
from distillery.errors import DataError
from distillery.shards import DeviceRows, MappedRows, ShardArray
from distillery.spec import DataSpec, parse
from helpers import data_options, distill_request, model_options, source_options, student, training_options

SIZES = (130, 200, 70)  # uneven, so that batches and chunks cross shard boundaries


@pytest.fixture(scope="module")
def digits(tmp_path_factory):
    """400 embedded digits, as three .npy shards (+ label shards) and as one .npz with the same rows."""
    folder = tmp_path_factory.mktemp("shards")
    x, y = embedded_mnist()
    x, y = x[:400], y[:400]
    xs, ys, start = [], [], 0
    for i, size in enumerate(SIZES):
        np.save(folder / f"x-{i}.npy", x[start : start + size])
        np.save(folder / f"y-{i}.npy", y[start : start + size])
        xs.append(str(folder / f"x-{i}.npy"))
        ys.append(str(folder / f"y-{i}.npy"))
        start += size
    np.savez(folder / "whole.npz", x=x, y=y)
    return {"x": xs, "y": ys, "whole": str(folder / "whole.npz"), "arrays": (x, y), "folder": folder}


def _shards(digits, **extra):
    return source_options("shards", **{"x": digits["x"], "y": digits["y"], **extra})


def _data(train, **extra):
    return data_options(train=train, test=source_options("mnist", split="test", limit=100), **extra)


def test_the_rows_stay_on_disk_and_read_back_exactly(digits, monkeypatch):
    monkeypatch.setattr(shards, "CHUNK_ROWS", 64)
    array = ShardArray.open(digits["x"], "data.train.x")
    assert array.shape == (400, 28, 28) and all(isinstance(m, np.memmap) for m in array._maps)
    x, _ = digits["arrays"]
    order = np.random.default_rng(0).permutation(400)
    np.testing.assert_array_equal(array.take(order), x[order])
    view = array[50:350][np.arange(0, 300, 7)]  # a selection of a selection, still lazy
    assert isinstance(view, ShardArray) and len(view) == 43
    np.testing.assert_array_equal(np.asarray(view), x[50:350][::7])
    assert [start for start, _ in array.chunks()] == list(range(0, 400, 64))


def test_chunked_normalisation_matches_the_in_memory_one(digits, monkeypatch):
    monkeypatch.setattr(shards, "CHUNK_ROWS", 64)
    x, _ = digits["arrays"]
    mapped, whole = normalization_for(ShardArray.open(digits["x"], "x"), "standard"), normalization_for(x, "standard")
    assert mapped is not None and whole is not None
    np.testing.assert_allclose(mapped["mean"], whole["mean"], rtol=1e-12)
    np.testing.assert_allclose(mapped["std"], whole["std"], rtol=1e-12)
    vectors = x.reshape(400, -1)[:, 300:310].astype(np.float32)  # per feature, for vectors
    np.save(digits["folder"] / "v.npy", vectors)
    per_feature = normalization_for(ShardArray.open([str(digits["folder"] / "v.npy")], "x"), "standard")
    np.testing.assert_allclose(per_feature["mean"], normalization_for(vectors, "standard")["mean"], rtol=1e-12)


def test_a_split_from_shards_is_mapped_and_its_batches_come_one_ahead_in_order(digits):
    bundle = load_data(parse(DataSpec, _data(_shards(digits)), "data"), torch.device("cpu"))
    assert isinstance(bundle.train.x, MappedRows) and isinstance(bundle.test.x, DeviceRows)
    x, y = digits["arrays"]
    indices = list(torch.randperm(400, generator=torch.Generator().manual_seed(1)).split(64))
    seen = list(bundle.train.x.batches(indices))
    assert [index for index, _ in seen] == indices
    norm = bundle.normalization
    for index, rows in seen:
        expected = (x[index.numpy()].astype(np.float32) - np.float32(norm["mean"][0])) / np.float32(norm["std"][0])
        np.testing.assert_array_equal(rows.numpy(), expected)
    assert torch.equal(bundle.train.y, torch.as_tensor(y, dtype=torch.int64))


def test_training_from_shards_gives_the_weights_of_training_in_memory(digits, tmp_path):
    """The same rows, the same seed: a student trained from mapped shards equals one trained from an .npz."""
    block = student("s", model_options("mlp", hidden=[32]), training=training_options(epochs=2, batchSize=48))
    whole = source_options("file", path=digits["whole"])
    results = {}
    for name, train in (("memory", whole), ("shards", _shards(digits))):
        data = _data(train, validation={"type": "split", "fraction": 0.1})
        results[name] = api.call("distill", distill_request(tmp_path / name, block, data=data, export=False))
    memory, mapped = (
        load_checkpoint(results[k]["checkpoint"], torch.device("cpu")).module.state_dict() for k in ("memory", "shards")
    )
    for key in memory:
        torch.testing.assert_close(mapped[key], memory[key], rtol=1e-6, atol=1e-6)
    assert results["shards"]["metrics"]["testErrors"] == results["memory"]["metrics"]["testErrors"]
    assert results["shards"]["metrics"]["validationAccuracy"] == results["memory"]["metrics"]["validationAccuracy"]


def test_offset_and_limit_select_rows_across_shards(digits):
    x, y = read_source(parse(DataSpec, _data(_shards(digits, offset=100, limit=150)), "data").train, "data.train")
    assert isinstance(x, ShardArray) and len(x) == 150
    np.testing.assert_array_equal(np.asarray(x), digits["arrays"][0][100:250])
    np.testing.assert_array_equal(y, digits["arrays"][1][100:250])


def test_nan_in_a_later_shard_names_the_row_of_the_whole_set(digits, tmp_path, monkeypatch):
    monkeypatch.setattr(shards, "CHUNK_ROWS", 64)
    files = []
    for i, path in enumerate(digits["x"]):  # float shards (NaN needs a float dtype), one bad value in the second
        rows = np.load(path).astype(np.float32)
        if i == 1:
            rows[77, 3, 3] = np.nan
        np.save(tmp_path / f"f-{i}.npy", rows)
        files.append(str(tmp_path / f"f-{i}.npy"))
    source = _shards(digits, x=files)
    with pytest.raises(DataError, match=r"data\.train: x holds NaN or Infinity \(first at row 207\)"):
        load_data(parse(DataSpec, _data(source), "data"), torch.device("cpu"))


@pytest.mark.parametrize("case", ["shape", "dtype", "missing", "labels", "count", "not-npy"])
def test_bad_shards_name_the_file_and_the_field(digits, tmp_path, case):
    x = list(digits["x"])
    y = list(digits["y"])
    if case == "shape":
        np.save(tmp_path / "odd.npy", np.zeros((5, 14, 14), np.uint8))
        x[1] = str(tmp_path / "odd.npy")
        message = (
            r"data\.train\.x\[1\]: .*odd\.npy holds rows of \[14, 14\] uint8, but .*x-0\.npy holds \[28, 28\] uint8"
        )
    elif case == "dtype":
        np.save(tmp_path / "f.npy", np.zeros((5, 28, 28), np.float32))
        x[2], message = str(tmp_path / "f.npy"), r"data\.train\.x\[2\]: .*every shard must match the first"
    elif case == "missing":
        x[0], message = str(tmp_path / "nope.npy"), r"data\.train\.x\[0\]: file not found: .*nope\.npy"
    elif case == "labels":
        np.save(tmp_path / "short.npy", np.zeros(3, np.int64))
        y[1], message = (
            str(tmp_path / "short.npy"),
            r"data\.train\.y\[1\]: .*short\.npy has 3 labels but .*x-1\.npy has 200 rows",
        )
    elif case == "count":
        y, message = y[:2], r"data\.train\.y: 2 label files for 3 input shards"
    else:
        (tmp_path / "text.npy").write_text("not an array")
        x[0], message = str(tmp_path / "text.npy"), r"data\.train\.x\[0\]: .*text\.npy"
    with pytest.raises(DataError, match=message) as raised:
        load_data(parse(DataSpec, _data(_shards(digits, x=x, y=y)), "data"), torch.device("cpu"))
    assert raised.value.field.startswith("data.train.")


def test_shards_are_refused_for_the_test_split(digits):
    with pytest.raises(Exception, match=r"data\.test"):
        parse(DataSpec, data_options(train=_shards(digits), test=_shards(digits)), "data")


def test_rows_too_large_for_the_gpu_stay_on_the_host_and_train_the_same(digits, tmp_path, monkeypatch):
    """In memory but over the device's share: the split is read a batch ahead (pinned on CUDA) like shards, and the
    student's weights are those of the resident split."""
    np.savez(tmp_path / "host.npz", x=digits["arrays"][0], y=digits["arrays"][1])
    block = student("s", model_options("mlp", hidden=[32]), training=training_options(epochs=2, batchSize=48))
    data = _data(source_options("file", path=str(tmp_path / "host.npz")))
    resident = api.call("distill", distill_request(tmp_path / "resident", block, data=data, export=False))
    monkeypatch.setattr(shards, "fits_on_device", lambda nbytes, device: False)
    np.savez(
        tmp_path / "host.npz", x=digits["arrays"][0], y=digits["arrays"][1]
    )  # a new mtime: not served from the cache
    bundle = load_data(parse(DataSpec, data, "data"), torch.device("cpu"))
    assert isinstance(bundle.train.x, MappedRows) and isinstance(bundle.train.x.array, shards.HostRows)
    host = api.call("distill", distill_request(tmp_path / "host", block, data=data, export=False))
    a, b = (load_checkpoint(r["checkpoint"], torch.device("cpu")).module.state_dict() for r in (resident, host))
    for key in a:
        torch.testing.assert_close(b[key], a[key], rtol=0, atol=0)


def test_every_row_source_gives_the_same_rows_and_batches(digits):
    """Resident, host-memory and on-disk rows are one interface: the same batches, the same blocks, the same slices."""
    from distillery.shards import ArrayRows, HostRows, apply_normalization

    x, _ = digits["arrays"]
    norm = {"mean": [33.0], "std": [78.0]}
    rows = apply_normalization(x, norm)
    sources = {
        "resident": ArrayRows(x).on_device(norm, torch.device("cpu")),
        "host": MappedRows(HostRows(rows), lambda batch: batch, torch.device("cpu")),
        "shards": ShardArray.open(digits["x"], "x").on_device(norm, torch.device("cpu")),
    }
    assert isinstance(sources["resident"], DeviceRows) and isinstance(sources["shards"], MappedRows)
    indices = list(torch.randperm(400, generator=torch.Generator().manual_seed(2)).split(64))
    for name, source in sources.items():
        assert len(source) == 400 and tuple(source.shape) == (400, 28, 28), name
        for (index, batch), expected in zip(source.batches(indices), indices, strict=True):
            assert torch.equal(index, expected) and torch.equal(batch, torch.from_numpy(rows[expected.numpy()])), name
        assert torch.equal(torch.cat(list(source.split(150))), torch.from_numpy(rows)), name
        assert torch.equal(source[10:20], torch.from_numpy(rows[10:20])), name
