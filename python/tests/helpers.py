"""Small builders shared by the tests."""

from __future__ import annotations

import os

import numpy as np
import torch

from distillery.data import DataBundle, Split

CPU = torch.device("cpu")
REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def training_options(**overrides):
    """A complete training dict, as the zod schema would fill it in."""
    options = {
        "epochs": 1,
        "batchSize": 32,
        "optimizer": {"type": "sgd", "lr": 0.05, "momentum": 0.9, "nesterov": False},
        "weightDecay": 0.0,
        "schedule": {"type": "constant", "warmupEpochs": 0},
        "checkpoint": "last",
        "mixedPrecision": "auto",
        "teacherOutputs": "auto",
    }
    options.update(overrides)
    return options


def tiny_bundle(n_train: int = 96, n_test: int = 32, shape=(1, 8, 8), classes: int = 3, seed: int = 0) -> DataBundle:
    """An in-memory classification bundle of random images whose label is a function of the pixels."""
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(n_train + n_test, *shape, generator=generator)
    y = x.flatten(1)[:, :classes].argmax(dim=1).long()
    train, test = Split(x[:n_train], y[:n_train]), Split(x[n_train:], y[n_train:])
    return DataBundle("classification", list(shape), classes, [str(i) for i in range(classes)], None, train, test, train, None)


def mnist_data(train_limit: int = 512, test_limit: int = 128, **extra):
    """A data config for the embedded MNIST digits, defaults filled as the zod schema does."""
    config = {
        "task": "classification",
        "train": {"type": "mnist", "split": "train", "offset": 0, "limit": train_limit, "labelled": True},
        "test": {"type": "mnist", "split": "test", "offset": 0, "limit": test_limit, "labelled": True},
        "normalize": "standard",
    }
    config.update(extra)
    return config


def np_log_softmax(z: np.ndarray) -> np.ndarray:
    z = np.asarray(z, dtype=np.float64)
    shifted = z - z.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


def np_softmax(z: np.ndarray) -> np.ndarray:
    return np.exp(np_log_softmax(z))


def state_dicts_equal(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def damaged_copies(raw: bytes, seed: int, trials: int):
    """Byte-level damage, reproducibly: 8 random bytes overwritten, a truncation, or one flipped bit, in turn."""
    import random

    rng = random.Random(seed)
    for trial in range(trials):
        data = bytearray(raw)
        if trial % 3 == 0:
            position = rng.randrange(len(data))
            data[position:position + 8] = bytes(rng.randrange(256) for _ in range(8))
        elif trial % 3 == 1:
            data = data[: rng.randrange(len(data))]
        else:
            data[rng.randrange(len(data))] ^= 1 << rng.randrange(8)
        yield bytes(data)
