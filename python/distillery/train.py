"""The one training loop, for teachers and students alike.

Data lives on the training device as whole tensors; a batch is an index
slice of a seeded permutation — no DataLoader, no per-sample Python. What
differs between a teacher and a student is only the ``Objective``: how a
batch of outputs becomes a loss.
"""

from __future__ import annotations

import copy
import math
import os
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, Optional, Union

import torch
from torch import nn

from . import distributed, methods
from .augment import Augmenter, Mix
from .augment import active as augment_active
from .augment import describe as augment_describe
from .augment import resolve as augment_resolve
from .data import DataBundle, Split
from .errors import ConfigError, TrainingDivergedError
from .io import atomic_torch_save
from .methods.supervised import HardLabels
from .progress import Progress
from .shards import RowSource
from .spec import ConstantSchedule, ExponentialSchedule, MethodOptions, Sgd, StepSchedule, Training
from .text_models import TextModel, by_length, layout_of, trim_padding

EVAL_BATCH = 4096


# ---------------------------------------------------------------- device and seeds


def resolve_device(name: str) -> torch.device:
    """``auto`` takes CUDA when available; ``cuda`` / ``cuda:N`` fail clearly when it is not."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            raise ConfigError(
                f"device: '{name}' was asked for, but torch {torch.__version__} sees no CUDA device", field="device"
            )
        index = int(name.split(":")[1]) if ":" in name else 0
        if index >= torch.cuda.device_count():
            raise ConfigError(
                f"device: '{name}' does not exist ({torch.cuda.device_count()} CUDA devices)", field="device"
            )
    elif name != "cpu":
        raise ConfigError(f"device: expected auto, cpu, cuda or cuda:N, got '{name}'", field="device")
    return torch.device(name)


def seed_everything(seed: int) -> None:
    torch.manual_seed(seed)
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(seed)


# ---------------------------------------------------------------- objectives


@dataclass
class Objective:
    """Turns a batch into a loss through the method registry. ``teacher_outputs`` are cached over the whole
    transfer set (indexed by the batch's row indices); when they are None and a teacher is given, it runs
    online on the same (augmented) batch."""

    method: MethodOptions
    task: str
    where: str = "method"
    teacher: Optional[nn.Module] = None
    teacher_outputs: Optional[torch.Tensor] = None
    # The teacher's outputs on the test and validation splits, for the agreement metrics (each epoch's on validation;
    # on the test split each epoch's without a validation split, else the final model's alone).
    test_teacher_outputs: Optional[torch.Tensor] = None
    validation_teacher_outputs: Optional[torch.Tensor] = None
    # A teacher that gave labels alone (precomputed.py): whatever the method, the student learns its labels as
    # pseudo-labels with the plain classification loss, since there are no soft targets to distil.
    pseudo_labels: bool = False
    entry: methods.Method[MethodOptions] = field(init=False)
    # A feature method's trainable helper (e.g. the hint connector), built by ``prepare``; never exported.
    auxiliary: Optional[nn.Module] = field(init=False, default=None)

    def __post_init__(self) -> None:
        self.entry = methods.check_task(self.method, self.task, self.where)

    @property
    def needs_teacher(self) -> bool:
        return self.entry.needs_teacher

    @property
    def reads_features(self) -> bool:
        """A feature method reads the networks' layers: its teacher must be a torch module, run online."""
        return self.entry.prepare is not None

    def prepare(self, model: nn.Module, sample: torch.Tensor) -> None:
        if self.entry.prepare is None:
            return
        if self.teacher is None:
            raise ConfigError(f"{self.where}.type: '{self.entry.name}' needs a teacher", field=f"{self.where}.type")
        self.auxiliary = self.entry.prepare(self.method, methods.Preparation(model, self.teacher, sample, self.where))

    def close(self) -> None:
        """Removes what ``prepare`` hooked into the networks, before they are saved or exported."""
        close = getattr(self.auxiliary, "close", None)
        if callable(close):
            close()

    def teacher_batch(self, index: torch.Tensor, x: torch.Tensor) -> Optional[torch.Tensor]:
        if not self.needs_teacher:
            return None
        if self.teacher_outputs is not None and not self.reads_features:
            return self.teacher_outputs[index]
        assert self.teacher is not None, "a distillation objective needs a teacher"
        with torch.no_grad():
            outputs: torch.Tensor = self.teacher(x)
            return outputs.float()

    def check_labels(self, split: Split, split_name: str) -> None:
        """A method that reads labels, on a split that has none, fails before the first batch."""
        if self.entry.needs_labels and split.y is None and not self.pseudo_labels:
            raise ConfigError(
                f"{self.where}.type: '{self.entry.name}' needs labels, but {split_name} has none",
                field=f"{self.where}.type",
            )

    def __call__(
        self,
        outputs: torch.Tensor,
        teacher_outputs: Optional[torch.Tensor],
        labels: Optional[torch.Tensor],
        epoch: int,
        epochs: int,
        mix: Optional[Mix] = None,
    ) -> tuple[torch.Tensor, methods.Terms]:
        entry, method = self.entry, self.method
        if self.pseudo_labels:
            assert teacher_outputs is not None, "pseudo-labels come from the teacher's answers"
            labels, teacher_outputs = teacher_outputs.argmax(dim=1), None
            method = HardLabels(type="hard-labels")
            entry = methods.check_task(method, self.task, self.where)

        def loss(batch_labels: Optional[torch.Tensor]) -> tuple[torch.Tensor, methods.Terms]:
            inputs = methods.LossInputs(
                outputs, teacher_outputs, batch_labels, self.task, epoch, epochs, self.auxiliary
            )
            return entry.loss(method, inputs)

        if mix is None or labels is None:
            return loss(labels)
        # A mixed batch (mixup, cutmix): every loss is linear in its label term, so mixing the two losses is mixing
        # the label terms (Zhang et al. 2018), and terms that do not read labels come out unchanged.
        first, first_terms = loss(labels)
        second, second_terms = loss(labels[mix.partner])
        terms = {name: mix.lam * value + (1.0 - mix.lam) * second_terms[name] for name, value in first_terms.items()}
        return mix.lam * first + (1.0 - mix.lam) * second, terms


# ---------------------------------------------------------------- optimiser and schedule


def make_optimizer(
    model: nn.Module, training: Training, auxiliary: Optional[nn.Module] = None
) -> torch.optim.Optimizer:
    spec = training.optimizer
    parameters = list(model.parameters()) + (list(auxiliary.parameters()) if auxiliary is not None else [])
    if isinstance(spec, Sgd):
        return torch.optim.SGD(
            parameters, lr=spec.lr, momentum=spec.momentum, nesterov=spec.nesterov, weight_decay=training.weight_decay
        )
    optimizer = torch.optim.AdamW if spec.type == "adamw" else torch.optim.Adam
    return optimizer(parameters, lr=spec.lr, weight_decay=training.weight_decay)


def lr_factor(
    schedule: Union[ConstantSchedule, StepSchedule, ExponentialSchedule], step: int, steps_per_epoch: int, epochs: int
) -> float:
    """The learning-rate multiplier at a global step (the schedule is stepped every batch)."""
    epoch = step // steps_per_epoch
    warmup = schedule.warmup_epochs * steps_per_epoch
    if warmup and step < warmup:
        return (step + 1) / warmup
    if isinstance(schedule, StepSchedule):
        return float(schedule.gamma ** (epoch // schedule.step_size))
    if isinstance(schedule, ExponentialSchedule):
        return float(schedule.gamma**epoch)
    if schedule.type == "cosine":
        total = max(1, epochs * steps_per_epoch - warmup)
        return 0.5 * (1.0 + math.cos(math.pi * min(1.0, (step - warmup) / total)))
    return 1.0


# ---------------------------------------------------------------- evaluation


@torch.no_grad()
def predict(model: nn.Module, x: Union[torch.Tensor, RowSource]) -> torch.Tensor:
    """Outputs for a whole split, in eval mode, in large batches (read batch by batch when the rows are not
    resident)."""
    was_training = model.training
    model.eval()
    layout = layout_of(model)
    # text: batches of similar lengths, each cut after its longest text, then put back in row order
    order = by_length(x, layout) if layout is not None and isinstance(x, torch.Tensor) and len(x) else None
    rows = x if order is None else x[order]
    outputs = (
        torch.cat([model(trim_padding(model, chunk)).float() for chunk in rows.split(EVAL_BATCH)])
        if len(x)
        else torch.zeros((0,), device=x.device)
    )
    if order is not None:
        outputs[order] = outputs.clone()
    model.train(was_training)
    return outputs


def split_metrics(
    outputs: torch.Tensor, split: Split, task: str, prefix: str, teacher_outputs: Optional[torch.Tensor] = None
) -> dict[str, float]:
    metrics: dict[str, float] = {}
    if task == "regression":
        if split.y is not None:
            metrics[f"{prefix}Rmse"] = float(torch.sqrt(torch.mean((outputs - split.y) ** 2)))
        if teacher_outputs is not None:
            metrics[f"{prefix}RmseToTeacher"] = float(torch.sqrt(torch.mean((outputs - teacher_outputs) ** 2)))
        return metrics
    predicted = outputs.argmax(dim=1)
    if split.y is not None:
        metrics[f"{prefix}Accuracy"] = float((predicted == split.y).float().mean())
        metrics[f"{prefix}Errors"] = int((predicted != split.y).sum())
        metrics[f"{prefix}Nll"] = float(nn.functional.cross_entropy(outputs, split.y))
    if teacher_outputs is not None:
        metrics[f"{prefix}Agreement"] = float((predicted == teacher_outputs.argmax(dim=1)).float().mean())
    return metrics


# ---------------------------------------------------------------- the loop


class LossWatch:
    """Whether every step's loss is finite. On the CPU it is read at once (that costs nothing); on CUDA (``lazy``) the
    first non-finite step and its loss are kept on the device and read only when a progress event goes out and at the
    epoch's end, so a step never waits for the host. Either way a divergence names its first step; the steps after it
    (lazy) are wasted, never saved: the epoch's state is written only after the check."""

    def __init__(self, lazy: bool):
        self.lazy = lazy
        self.first_step: Optional[torch.Tensor] = None
        self.first_value: Optional[torch.Tensor] = None

    def update(self, loss: torch.Tensor, step: int) -> Optional[tuple[int, float]]:
        value = loss.detach().float()
        if not self.lazy:
            return None if bool(torch.isfinite(value)) else (step, float(value))
        if self.first_step is None or self.first_value is None:
            self.first_step, self.first_value = (
                torch.full((), -1, dtype=torch.int64, device=value.device),
                torch.zeros_like(value),
            )
        first = ~torch.isfinite(value) & (self.first_step < 0)
        self.first_step = torch.where(first, torch.full_like(self.first_step, step), self.first_step)
        self.first_value = torch.where(first, value, self.first_value)
        return None

    def read(self) -> Optional[tuple[int, float]]:
        if self.first_step is None or self.first_value is None or int(self.first_step) < 0:
            return None
        return int(self.first_step), float(self.first_value)


@dataclass
class FitResult:
    history: list[dict[str, Any]]
    metrics: dict[str, Any]
    seconds: float
    best_epoch: int
    state: dict[str, Any] = field(default_factory=dict)


def cpu_has_native_bf16() -> bool:
    """AVX-512 BF16 or AMX: bf16 matmuls in hardware. Without them torch emulates bf16, far slower than fp32."""
    return bool(torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported())


def _autocast(device: torch.device, training: Training) -> torch.autocast:
    """bf16 autocast; the loss is always computed in fp32 (``outputs.float()``).

    'bf16' autocasts on CUDA and on the CPU. 'auto' autocasts only on a CPU with native bf16 (docs/BENCHMARKS.md §9):
    there a 2x1200 training step runs 1.9x faster (the issue's Xeon with AMX), and a T=20 soft-target student trains
    1.62x faster with the same test errors (a Zen 5 with AVX-512 BF16). Emulated bf16 rounds the same but is 3x slower
    than fp32, so 'auto' is fp32 on other CPUs. On CUDA 'auto' is fp32: on an H200 bf16 ran these MLPs at
    0.88-1.11x the fp32 speed, and a T=20 student diverged in bf16 (its logits keep 8 mantissa bits). 'off': fp32."""
    wanted = training.mixed_precision == "bf16" or (
        training.mixed_precision == "auto" and device.type == "cpu" and cpu_has_native_bf16()
    )
    enabled = device.type in ("cuda", "cpu") and wanted
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=enabled)


def _batches(split: Split, indices: Iterable[torch.Tensor]) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """(index, rows) per batch: indexed on the device, or read one batch ahead when the rows are not resident."""
    return split.x.batches(indices)


def fit(
    model: nn.Module,
    data: DataBundle,
    training: Training,
    objective: Objective,
    device: torch.device,
    progress: Progress,
    *,
    phase: str,
    name: str,
    seed: int,
    transfer: Optional[Split] = None,
    state_path: Optional[str] = None,
    resume: bool = False,
    test_metrics: bool = True,
) -> FitResult:
    """Trains ``model`` in place on ``transfer`` (default: the training split) and returns its history.

    After every epoch the full training state goes to ``state_path`` (atomically), so a killed run
    resumes from the last finished epoch with ``resume=True`` and ends where an uninterrupted run would.
    With a validation split each epoch is measured on it alone, and the test split is read once, for the final
    model (the kept epoch), into the result's ``metrics``; without one each epoch is measured on the test split.
    ``test_metrics=False`` (a sweep's candidates) keeps the test split out of the history altogether.
    """
    try:
        return _fit(
            model,
            data,
            training,
            objective,
            device,
            progress,
            phase=phase,
            name=name,
            seed=seed,
            transfer=transfer,
            state_path=state_path,
            resume=resume,
            test_metrics=test_metrics,
        )
    finally:
        objective.close()


@dataclass
class _Loop:
    """What one training run holds across its epochs: the model and what steps it, the data, where it reports."""

    model: nn.Module
    data: DataBundle
    transfer: Split
    training: Training
    objective: Objective
    device: torch.device
    progress: Progress
    phase: str
    name: str
    seed: int
    state_path: Optional[str]
    test_metrics: bool
    augmenter: Optional[Augmenter]
    generator: torch.Generator  # the loop's seeded randomness: the epoch's order, augmentation
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LambdaLR
    batch_size: int  # this rank's share of training.batchSize
    steps_per_epoch: int
    channels_last: bool  # batches go channels-last: asked for, on CUDA, for a model with convolutions
    trained: Optional[nn.Module] = (
        None  # the model as stepped (DDP under torchrun, compiled when asked): _start_training
    )

    @property
    def epochs(self) -> int:
        return self.training.epochs

    @property
    def keep_best(self) -> bool:
        return self.training.checkpoint == "best"


@dataclass
class _Best:
    """The best epoch so far on the validation split (``training.checkpoint: 'best'``), part of the epoch state."""

    score: float = -math.inf
    epoch: int = -1
    state: Any = None


@dataclass
class _EpochSums:
    """An epoch's running sums, kept on the device (reading one would make every step wait for it)."""

    loss: torch.Tensor
    correct: torch.Tensor
    terms: dict[str, torch.Tensor] = field(default_factory=dict)


def _fit(
    model: nn.Module,
    data: DataBundle,
    training: Training,
    objective: Objective,
    device: torch.device,
    progress: Progress,
    *,
    phase: str,
    name: str,
    seed: int,
    transfer: Optional[Split],
    state_path: Optional[str],
    resume: bool,
    test_metrics: bool,
) -> FitResult:
    loop = _prepare(
        model,
        data,
        training,
        objective,
        device,
        progress,
        phase=phase,
        name=name,
        seed=seed,
        transfer=transfer if transfer is not None else data.train,
        state_path=state_path,
        test_metrics=test_metrics,
    )
    start_epoch, history, best = _resume(loop) if resume else (0, [], _Best())
    progress.emit(
        {
            "event": "phase-start",
            "phase": phase,
            "name": name,
            "epochs": loop.epochs,
            "startEpoch": start_epoch,
            "stepsPerEpoch": loop.steps_per_epoch,
            "samples": loop.transfer.n,
        }
    )
    started = time.perf_counter()
    _start_training(loop)
    for epoch in range(start_epoch, loop.epochs):
        epoch_started = time.perf_counter()
        sums, seen = _train_epoch(loop, epoch)
        metrics, score = _epoch_metrics(loop, sums, seen, epoch_started)
        _end_epoch(loop, epoch, metrics, score, history, best)
    return _finish(loop, history, best, start_epoch, started)


def _prepare(
    model: nn.Module,
    data: DataBundle,
    training: Training,
    objective: Objective,
    device: torch.device,
    progress: Progress,
    *,
    phase: str,
    name: str,
    seed: int,
    transfer: Split,
    state_path: Optional[str],
    test_metrics: bool,
) -> _Loop:
    """Everything the epochs need, checked before the first one: the augmenter, the seeded generator, the objective's
    auxiliary module, the optimiser and its per-step schedule."""
    ranks = distributed.current()  # under torchrun: batch_size is the global batch, each rank takes its share
    batch_size = distributed.local_batch(training.batch_size)
    steps_per_epoch = max(1, math.ceil(math.ceil(transfer.n / ranks.world_size) / batch_size))
    training_where = objective.where.rsplit(".method", 1)[0] + ".training.augment"
    convolutional = any(isinstance(module, nn.Conv2d) for module in model.modules())
    augmenter = Augmenter.build(training.augment, tuple(data.sample_shape), training_where, convolutional=convolutional)
    if augmenter is not None and any(isinstance(module, TextModel) for module in model.modules()):
        raise ConfigError(
            f"{training_where}: noise and mixup would change token ids into other tokens; a text model trains "
            "without batch augmentation (leave training.augment out)",
            field=training_where,
        )
    if training.augment == "auto":
        chosen = augment_resolve(training.augment, tuple(data.sample_shape), convolutional=convolutional)
        # Said only when it augments: every MLP or table teacher would otherwise log that it chose nothing.
        if chosen is not None and augment_active(chosen):
            message = f"{name}: training.augment 'auto' chose {augment_describe(chosen)}"
            progress.emit({"event": "log", "message": message})
    objective.check_labels(transfer, "the transfer set" if transfer is not data.train else "data.train")
    generator = torch.Generator(device=device)
    generator.manual_seed(seed)
    objective.prepare(model, transfer.x[:2])
    if ranks.active and objective.auxiliary is not None:
        raise ConfigError(
            f"{objective.where}.type: '{objective.entry.name}' trains a connector beside the student, "
            "which distributed runs do not synchronise across ranks; run it in one process",
            field=f"{objective.where}.type",
        )
    optimizer = make_optimizer(model, training, objective.auxiliary)
    schedule, epochs = training.schedule, training.epochs
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: lr_factor(schedule, step, steps_per_epoch, epochs)
    )
    if training.checkpoint == "best" and data.validation is None:
        raise ConfigError(
            "training.checkpoint: 'best' needs data.validation to choose the best epoch honestly",
            field="training.checkpoint",
        )
    channels_last = training.channels_last and device.type == "cuda" and convolutional
    return _Loop(
        model=model,
        data=data,
        transfer=transfer,
        training=training,
        objective=objective,
        device=device,
        progress=progress,
        phase=phase,
        name=name,
        seed=seed,
        state_path=state_path,
        test_metrics=test_metrics,
        augmenter=augmenter,
        generator=generator,
        optimizer=optimizer,
        scheduler=scheduler,
        batch_size=batch_size,
        steps_per_epoch=steps_per_epoch,
        channels_last=channels_last,
    )


def _resume(loop: _Loop) -> tuple[int, list[dict[str, Any]], _Best]:
    """The state after the last finished epoch, when its file exists: weights, optimiser, schedule, RNG, history."""
    if not (loop.state_path and os.path.exists(loop.state_path)):
        return 0, [], _Best()
    start_epoch, history, best_score, best_epoch, best_state = _restore(
        loop.state_path, loop.model, loop.optimizer, loop.scheduler, loop.generator, loop.objective.auxiliary
    )
    loop.progress.emit({"event": "log", "message": f"{loop.name}: resumed after epoch {start_epoch}"})
    return start_epoch, history, _Best(score=best_score, epoch=best_epoch, state=best_state)


def _start_training(loop: _Loop) -> None:
    """Train mode, channels-last on CUDA, then the model as stepped — after any restore, which DDP broadcasts from
    rank 0."""
    model = loop.model
    model.train()
    if loop.channels_last:
        model.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
    trained = distributed.wrap(model, loop.device)  # DDP under torchrun; the model itself otherwise
    loop.trained = torch.compile(trained) if loop.training.compile else trained  # type: ignore[assignment]


def _epoch_order(loop: _Loop, epoch: int) -> torch.Tensor:
    """This epoch's rows, in order: a seeded permutation, or this rank's share of the DistributedSampler's."""
    if distributed.current().active:
        distributed.reseed(loop.generator, loop.seed, epoch)
        return distributed.epoch_order(loop.transfer.n, loop.seed, epoch, loop.device)
    return torch.randperm(loop.transfer.n, generator=loop.generator, device=loop.device)


def _train_epoch(loop: _Loop, epoch: int) -> tuple[_EpochSums, int]:
    """One pass over this rank's rows; returns the epoch's sums and how many rows it saw."""
    sums = _EpochSums(loss=torch.zeros((), device=loop.device), correct=torch.zeros((), device=loop.device))
    watch = LossWatch(lazy=loop.device.type == "cuda")
    order = _epoch_order(loop, epoch)
    for step, (index, x) in enumerate(_batches(loop.transfer, torch.split(order, loop.batch_size))):
        loss = _train_step(loop, epoch, step, index, x, sums, watch)
        loop.progress.check_cancel()
        if loop.progress.step_due():
            _check_finite(loop, watch, epoch)
            loop.progress.step(
                phase=loop.phase,
                name=loop.name,
                epoch=epoch + 1,
                epochs=loop.epochs,
                step=step + 1,
                stepsPerEpoch=loop.steps_per_epoch,
                loss=float(loss.detach()),
            )
    _check_finite(loop, watch, epoch)
    return sums, len(order)


def _train_step(
    loop: _Loop, epoch: int, step: int, index: torch.Tensor, x: torch.Tensor, sums: _EpochSums, watch: LossWatch
) -> torch.Tensor:
    """One batch: augment, forward (under autocast), the objective's loss, backward, clip, optimiser and schedule
    step."""
    assert loop.trained is not None, "_start_training comes first"
    mix = None
    if loop.augmenter is not None:
        x, mix = loop.augmenter(x, loop.generator)
    if loop.channels_last and x.dim() == 4:
        x = x.contiguous(memory_format=torch.channels_last)
    labels = loop.transfer.y[index] if loop.transfer.y is not None else None
    teacher_batch = loop.objective.teacher_batch(index, x)
    with _autocast(loop.device, loop.training):
        outputs = loop.trained(trim_padding(loop.model, x))
    loss, terms = loop.objective(outputs.float(), teacher_batch, labels, epoch, loop.epochs, mix)
    if (bad := watch.update(loss, step)) is not None:
        raise _diverged(f"the loss became {bad[1]}", loop.name, epoch + 1, bad[0] + 1, epoch, loop.state_path)
    loop.optimizer.zero_grad(set_to_none=True)
    loss.backward()  # type: ignore[no-untyped-call]  # torch leaves Tensor.backward unannotated
    if loop.training.clip_grad_norm:
        torch.nn.utils.clip_grad_norm_(loop.model.parameters(), loop.training.clip_grad_norm)
    loop.optimizer.step()
    loop.scheduler.step()
    _add_to_sums(loop, sums, loss, terms, len(index), outputs, labels, mix)
    return loss


def _add_to_sums(
    loop: _Loop,
    sums: _EpochSums,
    loss: torch.Tensor,
    terms: methods.Terms,
    rows: int,
    outputs: torch.Tensor,
    labels: Optional[torch.Tensor],
    mix: Optional[Mix],
) -> None:
    sums.loss = sums.loss + loss.detach() * rows
    for term, value in terms.items():
        sums.terms[term] = sums.terms[term] + value * rows if term in sums.terms else value * rows
    if labels is not None and loop.data.task == "classification":
        # A mixed row counts as right when it gets the label that dominates it.
        dominant = labels if mix is None or mix.lam >= 0.5 else labels[mix.partner]
        sums.correct += (outputs.detach().argmax(dim=1) == dominant).sum()


def _check_finite(loop: _Loop, watch: LossWatch, epoch: int) -> None:
    """Raises for the epoch's first non-finite loss that a lazy watch kept on the device."""
    if (bad := watch.read()) is not None:
        raise _diverged(f"the loss became {bad[1]}", loop.name, epoch + 1, bad[0] + 1, epoch, loop.state_path)


def _epoch_metrics(
    loop: _Loop, sums: _EpochSums, rows_seen: int, epoch_started: float
) -> tuple[dict[str, Any], Optional[float]]:
    """The epoch's metrics (its sums added over the ranks; the validation split evaluated, or the test split when there
    is none) and its validation score, higher is better (None without a validation split). With a validation split the
    test split waits for the final model (``_test_metrics`` in ``_finish``): nothing may be chosen, or watched, on it.
    Evaluation runs in eval mode under no_grad and draws no random numbers, so it leaves training bit-identical."""
    data = loop.data
    seen = torch.tensor(float(rows_seen))
    total_loss, correct, seen, *summed = distributed.all_sum([sums.loss, sums.correct, seen, *sums.terms.values()])
    terms = dict(zip(sums.terms, summed, strict=True))
    metrics: dict[str, Any] = {
        "loss": float(total_loss) / float(seen),
        "terms": {term: float(total) / float(seen) for term, total in terms.items()},
    }
    if loop.transfer.y is not None and data.task == "classification":
        metrics["trainAccuracy"] = float(correct) / float(seen)
    score = None
    if data.validation is not None:
        outputs = predict(loop.model, data.validation.x)
        teacher = loop.objective.validation_teacher_outputs
        metrics.update(split_metrics(outputs, data.validation, data.task, "validation", teacher))
        score = -metrics["validationRmse"] if data.task == "regression" else metrics["validationAccuracy"]
    elif loop.test_metrics:
        metrics.update(_test_metrics(loop))
    metrics["lr"] = loop.optimizer.param_groups[0]["lr"]
    metrics["seconds"] = time.perf_counter() - epoch_started
    metrics["samplesPerSecond"] = loop.transfer.n / max(metrics["seconds"], 1e-9)
    return metrics, score


def _test_metrics(loop: _Loop) -> dict[str, float]:
    """The model's metrics on the test split (with the teacher's agreement for a distilled student)."""
    data = loop.data
    outputs = predict(loop.model, data.test.x)
    return split_metrics(outputs, data.test, data.task, "test", loop.objective.test_teacher_outputs)


def _end_epoch(
    loop: _Loop, epoch: int, metrics: dict[str, Any], score: Optional[float], history: list[dict[str, Any]], best: _Best
) -> None:
    """Checks the weights, records the epoch, keeps the best, saves the epoch state, then announces the epoch."""
    model = loop.model
    # The loss of the epoch's last step was computed before its update: weights that update made NaN
    # must not reach the state file, which has to stay the last good one.
    if not all(bool(torch.isfinite(value).all()) for value in model.state_dict().values() if value.is_floating_point()):
        raise _diverged(
            "the weights became NaN or infinite", loop.name, epoch + 1, loop.steps_per_epoch, epoch, loop.state_path
        )
    history.append({"epoch": epoch + 1, **metrics})
    if loop.keep_best and score is not None and score > best.score:
        best.score, best.epoch, best.state = score, epoch + 1, copy.deepcopy(model.state_dict())
    # Saved before the epoch is announced, so a process killed on hearing "epoch k" resumes after epoch k.
    if loop.state_path and distributed.current().is_main:
        _save_state(
            loop.state_path,
            model,
            loop.optimizer,
            loop.scheduler,
            loop.generator,
            epoch + 1,
            history,
            best.score,
            best.epoch,
            best.state,
            loop.objective.auxiliary,
        )
    loop.progress.emit(
        {
            "event": "epoch",
            "phase": loop.phase,
            "name": loop.name,
            "epoch": epoch + 1,
            "epochs": loop.epochs,
            "metrics": metrics,
        }
    )


def _finish(loop: _Loop, history: list[dict[str, Any]], best: _Best, start_epoch: int, started: float) -> FitResult:
    """The best epoch's weights back in the model (checkpoint 'best'), the run's time (resumed epochs included), and
    the final metrics: the kept epoch's record, with its test metrics read now when the epochs were measured on
    validation."""
    kept_best = loop.keep_best and best.state is not None
    if kept_best:
        loop.model.load_state_dict(best.state)
    final_epoch = best.epoch if kept_best else len(history)
    seconds = time.perf_counter() - started + sum(h["seconds"] for h in history[:start_epoch])
    final = dict(history[final_epoch - 1]) if history else {}
    if history and loop.test_metrics and loop.data.validation is not None:
        final.update(_test_metrics(loop))
    loop.progress.emit(
        {"event": "phase-end", "phase": loop.phase, "name": loop.name, "seconds": seconds, "metrics": final}
    )
    return FitResult(history, final, seconds, final_epoch)


def _diverged(
    what: str, name: str, epoch: int, step: int, last_good_epoch: int, state_path: Optional[str]
) -> TrainingDivergedError:
    """The error for a NaN/infinite loss or weights. The state file (if any) is left as it was: the last good
    epoch's."""
    kept = state_path if state_path and last_good_epoch > 0 and os.path.exists(state_path) else None
    return TrainingDivergedError(
        f"{name}: {what} at epoch {epoch}, step {step}; lower the learning rate or check the data"
        + (f" (the state after epoch {last_good_epoch} is kept in {kept})" if kept else ""),
        details={
            "epoch": epoch,
            "step": step,
            "name": name,
            "lastGoodEpoch": last_good_epoch if kept else None,
            "stateFile": kept,
        },
    )


def _save_state(
    path: str,
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: Any,
    generator: torch.Generator,
    epoch: int,
    history: list[dict[str, Any]],
    best_score: float,
    best_epoch: int,
    best_state: Any,
    auxiliary: Optional[nn.Module],
) -> None:
    state = {
        "epoch": epoch,
        "model": model.state_dict(),
        "auxiliary": auxiliary.state_dict() if auxiliary is not None else None,
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict(),
        "generator": generator.get_state(),
        "cpuRng": torch.get_rng_state(),
        "cudaRng": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "history": history,
        "bestScore": best_score,
        "bestEpoch": best_epoch,
        "bestState": best_state,
    }
    atomic_torch_save(path, state)


def _restore(
    path: str,
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: Any,
    generator: torch.Generator,
    auxiliary: Optional[nn.Module],
) -> tuple[int, list[dict[str, Any]], float, int, Any]:
    from .checkpoints import load_torch_file

    # Everything is read onto the CPU: load_state_dict copies weights and optimizer state to the parameters' device,
    # and the RNG states (even a CUDA generator's) must be CPU byte tensors; mapped onto CUDA, resume failed there.
    state = load_torch_file(path, map_location="cpu")
    model.load_state_dict(state["model"])
    if auxiliary is not None:
        auxiliary.load_state_dict(state["auxiliary"])
    optimizer.load_state_dict(state["optimizer"])
    scheduler.load_state_dict(state["scheduler"])
    generator.set_state(state["generator"])
    torch.set_rng_state(state["cpuRng"])
    if state["cudaRng"]:
        torch.cuda.set_rng_state_all(state["cudaRng"])
    return (
        state["epoch"],
        list(state["history"]),
        float(state["bestScore"]),
        int(state["bestEpoch"]),
        state["bestState"],
    )
