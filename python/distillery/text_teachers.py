"""Teachers that read raw texts through their own tokenizer, not the data's encoded rows.

The student's rows are encoded by TypeScript with the data's tokenizer (src/preprocess); a teacher with another
tokenizer gets its own input from the split's raw texts (``Split.texts``, data.texts), encoded here by
``text.encode_texts``. Three kinds:

* ``huggingface-onnx``: a Hugging Face ONNX folder (``tokenizer.json``, and ``model.onnx`` or ``onnx/model.onnx``
  taking ``input_ids``, ``attention_mask`` and optionally ``token_type_ids``; its logits the output), run with
  onnxruntime as a black box.
* ``huggingface``: a Hugging Face checkpoint folder (``config.json``, weights, ``tokenizer.json``), fine-tuned here
  with ``transformers`` (AutoModelForSequenceClassification) on data.train's texts, the best epoch on validation
  kept; saved under the run folder (``checkpoints/<name>.hf``), so a resumed run loads it instead of fine-tuning.
* a Distillery checkpoint whose tokenizer (or text layout) is not the data's: its token slots are encoded from the
  raw texts with the tokenizer it carries, its fixed slots are the data's (the same columns, renormalised).

Each runs over a whole split (``outputs``), so its outputs are cached over the transfer set like every teacher's;
it cannot run on the student's batches (no ``online`` outputs, no feature methods). Masked words of an augmented
transfer set (the data tokenizer's unknown token, data.maskToken) become the teacher's own mask token, else its
unknown token.
"""

from __future__ import annotations

import copy
import functools
import math
import os
import shutil
import time
from typing import Any, Optional, Union

import numpy as np
import torch
from torch import nn

from .checkpoints import LoadedModel
from .data import DataBundle, Split
from .errors import ConfigError, DataError
from .io import atomic_folder
from .onnx_teacher import teacher_session
from .progress import Progress
from .spec import HuggingFaceOnnxTeacher, HuggingFaceTeacher
from .text import encode_texts, text_column, text_layout
from .tokenizer import PAD_NAMES, UNK_NAMES, load_tokenizer_file
from .train import seed_everything, split_metrics

DEFAULT_MAX_LENGTH = 128  # maxLength 'auto' without truncation settings in the tokenizer.json
MASK_NAMES = ("[MASK]", "<mask>")
ONNX_FILES = ("model.onnx", os.path.join("onnx", "model.onnx"))
WEIGHT_FILES = (
    "model.safetensors",
    "model.safetensors.index.json",
    "pytorch_model.bin",
    "pytorch_model.bin.index.json",
)
HF_INPUTS = ("input_ids", "attention_mask", "token_type_ids")

HuggingFaceSpec = Union[HuggingFaceOnnxTeacher, HuggingFaceTeacher]


class TextTeacher(nn.Module):
    """A teacher that reads a split's raw texts with its own tokenizer. ``path``: the file its outputs are cached
    under (teachers.cached_outputs)."""

    path: str
    where: str

    def outputs(self, split: Split) -> torch.Tensor:
        raise NotImplementedError

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        raise ConfigError(
            f"{self.where}: this teacher reads raw texts with its own tokenizer, so it runs over whole splits and its "
            "outputs are cached; it cannot run on the student's batches (training.teacherOutputs 'online', batch "
            "augmentation, a feature method, or an ensemble member)",
            field=self.where,
        )


def texts_of(split: Split, where: str) -> list[str]:
    """The split's raw texts; a typed error when the data does not carry them."""
    if split.texts is None:
        raise DataError(
            f"data.texts: {where} reads the raw texts of the data's text column with its own tokenizer, but the data "
            "does not carry them (a table with a text column writes them as data/<role>-texts.jsonl; give data.texts "
            "when calling the engine directly)",
            field="data.texts",
        )
    return split.texts


def require_texts(data: DataBundle, where: str) -> None:
    """A text teacher needs a text column, and its raw texts."""
    if text_column(data.preprocess) is None:
        raise ConfigError(
            f"{where}.type: a text teacher needs a data table with a text column (declare one in the csv source's "
            "`columns`, e.g. {review: 'text'})",
            field=f"{where}.type",
        )
    for name in ("train", "test"):
        texts_of(getattr(data, name), where)


def _token(tokenizer: Any, names: tuple[str, ...]) -> Optional[str]:
    return next((name for name in names if tokenizer.token_to_id(name) is not None), None)


def mask_replacement(tokenizer: Any, split: Split) -> Optional[tuple[str, str]]:
    """(the data's mask string, this tokenizer's mask token, else its unknown token) for a split with masked words."""
    if split.mask_token is None:
        return None
    unk = getattr(tokenizer.model, "unk_token", None)
    token = _token(tokenizer, MASK_NAMES) or _token(tokenizer, UNK_NAMES) or unk
    return None if token is None else (split.mask_token, str(token))


# ---------------------------------------------------------------- Hugging Face folders


def _folder(path: str, where: str) -> str:
    if not os.path.isdir(path):
        raise ConfigError(
            f"{where}.path: {path} is not a folder (a Hugging Face model folder: tokenizer.json and the model)",
            field=f"{where}.path",
            file=path,
        )
    return path


def _tokenizer(folder: str, where: str) -> tuple[Any, int]:
    """The folder's tokenizer.json (a typed error when it is missing or not one) and its pad id (0 if none)."""
    path = os.path.join(folder, "tokenizer.json")
    if not os.path.exists(path):
        raise ConfigError(
            f"{where}.path: {folder} has no tokenizer.json (save the tokenizer with save_pretrained, a fast tokenizer)",
            field=f"{where}.path",
            file=path,
        )
    tokenizer, _ = load_tokenizer_file(path, field=f"{where}.path")
    padding = tokenizer.padding
    pad = padding["pad_id"] if padding else None
    if pad is None:
        name = _token(tokenizer, PAD_NAMES)
        pad = 0 if name is None else tokenizer.token_to_id(name)  # under a zero attention mask: any id will do
    return tokenizer, int(pad)


def _max_length(requested: Union[int, str], tokenizer: Any, limit: Optional[int] = None) -> int:
    """maxLength, or (auto) the tokenizer's truncation length, else DEFAULT_MAX_LENGTH; at most the model's
    ``limit`` (its position embeddings)."""
    if isinstance(requested, int):
        length = requested
    else:
        truncation = tokenizer.truncation
        length = int(truncation["max_length"]) if truncation else DEFAULT_MAX_LENGTH
    return min(length, limit) if limit else length


class _Encoder:
    """A Hugging Face tokenizer's inputs for a split's texts, batch by batch (padded to each batch's longest)."""

    def __init__(self, tokenizer: Any, pad: int, max_length: int, batch_size: int, where: str) -> None:
        self.tokenizer, self.pad, self.max_length, self.batch_size, self.where = (
            tokenizer,
            pad,
            max_length,
            batch_size,
            where,
        )

    def batches(self, texts: list[str], replace: Optional[tuple[str, str]]) -> Any:
        for start in range(0, len(texts), self.batch_size):
            yield encode_texts(
                self.tokenizer,
                texts[start : start + self.batch_size],
                max_length=self.max_length,
                pad=self.pad,
                special_tokens=True,
                replace=replace,
            )


class HfOnnxTeacher(TextTeacher):
    """A Hugging Face ONNX folder run with onnxruntime."""

    def __init__(self, spec: HuggingFaceOnnxTeacher, where: str = "teacher") -> None:
        super().__init__()
        self.where = where
        folder = _folder(spec.path, where)
        candidates = [os.path.join(folder, name) for name in ONNX_FILES]
        found = next((path for path in candidates if os.path.isfile(path)), None)
        if found is None:
            raise ConfigError(
                f"{where}.path: {folder} has no usable model file (looked for {', '.join(ONNX_FILES)})",
                field=f"{where}.path",
                file=folder,
            )
        self.path = found
        self.session = teacher_session(found, where)
        inputs = {item.name: item for item in self.session.get_inputs()}
        if "input_ids" not in inputs:
            raise ConfigError(
                f"{where}.path: {found} takes no input_ids (its inputs: {', '.join(inputs)}); a Hugging Face text "
                "classifier takes input_ids, attention_mask and optionally token_type_ids",
                field=f"{where}.path",
                file=found,
            )
        unknown = [name for name in inputs if name not in HF_INPUTS]
        if unknown:
            raise ConfigError(
                f"{where}.path: {found} also takes {', '.join(unknown)}; only {', '.join(HF_INPUTS)} can be fed",
                field=f"{where}.path",
                file=found,
            )
        self.inputs = {name: np.int32 if item.type == "tensor(int32)" else np.int64 for name, item in inputs.items()}
        outputs = [item.name for item in self.session.get_outputs()]
        if spec.output_name is not None and spec.output_name not in outputs:
            raise ConfigError(
                f"{where}.outputName: no output '{spec.output_name}' (it has: {', '.join(outputs)})",
                field=f"{where}.outputName",
                file=found,
            )
        self.output_name = spec.output_name or ("logits" if "logits" in outputs else outputs[0])
        tokenizer, pad = _tokenizer(folder, where)
        self.tokenizer = tokenizer
        self.encoder = _Encoder(tokenizer, pad, _max_length(spec.max_length, tokenizer), spec.batch_size, where)

    def outputs(self, split: Split) -> torch.Tensor:
        texts = texts_of(split, self.where)
        parts = []
        for batch in self.encoder.batches(texts, mask_replacement(self.tokenizer, split)):
            feed = {
                name: getattr(batch, name).astype(dtype)
                for name, dtype in self.inputs.items()
                if name in HF_INPUTS  # checked in __init__
            }
            result = np.asarray(self.session.run([self.output_name], feed)[0], dtype=np.float32)
            if result.ndim != 2:
                raise ConfigError(
                    f"{self.where}.outputName: the output '{self.output_name}' has shape {list(result.shape)}, not "
                    "[batch, classes]: a classifier's logits are needed",
                    field=f"{self.where}.outputName",
                    file=self.path,
                )
            parts.append(result)
        out = np.concatenate(parts) if parts else np.zeros((0, 0), np.float32)
        return torch.as_tensor(out, device=split.x.device)


class HfTeacher(TextTeacher):
    """A ``transformers`` sequence classifier and its tokenizer."""

    def __init__(
        self, model: nn.Module, tokenizer: Any, pad: int, max_length: int, batch_size: int, path: str, where: str
    ):
        super().__init__()
        self.model, self.tokenizer, self.path, self.where = model, tokenizer, path, where
        self.encoder = _Encoder(tokenizer, pad, max_length, batch_size, where)

    def logits(self, batch: Any, device: torch.device) -> torch.Tensor:
        feed = {name: torch.as_tensor(getattr(batch, name), device=device) for name in HF_INPUTS}
        logits: torch.Tensor = self.model(**feed).logits
        return logits

    def outputs(self, split: Split) -> torch.Tensor:
        texts = texts_of(split, self.where)
        device = next(self.model.parameters()).device
        was_training = self.model.training
        self.model.eval()
        with torch.no_grad():
            parts = [
                self.logits(batch, device).float()
                for batch in self.encoder.batches(texts, mask_replacement(self.tokenizer, split))
            ]
        self.model.train(was_training)
        out = torch.cat(parts) if parts else torch.zeros((0, 0))
        return out.to(split.x.device)


def _quiet_transformers() -> None:
    import transformers

    logging: Any = transformers.utils.logging  # untyped
    logging.set_verbosity_error()
    logging.disable_progress_bar()


def _load_classifier(folder: str, num_labels: int, where: str, progress: Optional[Progress]) -> nn.Module:
    """AutoModelForSequenceClassification from ``folder`` with ``num_labels`` outputs: a head of another size is
    made anew (said in the log); a model that cannot be a sequence classifier is a ConfigError."""
    import transformers

    _quiet_transformers()
    if not os.path.exists(os.path.join(folder, "config.json")):
        raise ConfigError(
            f"{where}.path: {folder} has no config.json (a Hugging Face checkpoint folder: config.json, weights and "
            "tokenizer.json, as save_pretrained writes them)",
            field=f"{where}.path",
            file=folder,
        )
    if not any(os.path.exists(os.path.join(folder, name)) for name in WEIGHT_FILES):
        raise ConfigError(
            f"{where}.path: {folder} has no usable model file (looked for {', '.join(WEIGHT_FILES)})",
            field=f"{where}.path",
            file=folder,
        )
    try:
        config = transformers.AutoConfig.from_pretrained(folder)
    except Exception as error:  # transformers raises OSError, ValueError or its own types for an unreadable config
        raise ConfigError(
            f"{where}.path: {folder}/config.json cannot be read by transformers: {error}",
            field=f"{where}.path",
            file=os.path.join(folder, "config.json"),
        ) from error
    mismatched = int(getattr(config, "num_labels", num_labels)) != num_labels
    if mismatched and progress is not None:
        progress.emit(
            {
                "event": "log",
                "message": f"{where}: its head has {config.num_labels} labels, the data {num_labels} classes: a new "
                "head is fine-tuned",
            }
        )
    config.num_labels = num_labels
    config.problem_type = "single_label_classification"
    try:
        model: nn.Module = transformers.AutoModelForSequenceClassification.from_pretrained(
            folder, config=config, ignore_mismatched_sizes=mismatched
        )
    except (ValueError, KeyError) as error:
        raise ConfigError(
            f"{where}.path: the {type(config).__name__} in {folder} cannot be a sequence classifier with "
            f"{num_labels} labels: {error}",
            field=f"{where}.path",
            file=folder,
        ) from error
    config_after: Any = model.config
    labels = int(config_after.num_labels)
    if labels != num_labels:
        raise ConfigError(
            f"{where}.path: the model in {folder} gives {labels} labels, the data has {num_labels} classes",
            field=f"{where}.path",
            file=folder,
        )
    return model


def fine_tuned_dir(state_dir: str, name: str) -> str:
    """Where a fine-tuned ``huggingface`` teacher is kept in the run folder."""
    return os.path.join(state_dir, f"{name}.hf")


def load_fine_tuned(
    spec: HuggingFaceTeacher, data: DataBundle, device: torch.device, state_dir: str, where: str = "teacher"
) -> HfTeacher:
    """The ``huggingface`` teacher fine-tuned earlier in this run folder (``fine_tuned_dir``)."""
    folder = fine_tuned_dir(state_dir, spec.name)
    if not os.path.isdir(folder):
        raise ConfigError(
            f"{where}: the fine-tuned teacher {folder} is missing; train the teacher first",
            field=where,
            file=folder,
        )
    return _hf_teacher(spec, folder, data, device, where, None)


def _hf_teacher(
    spec: HuggingFaceTeacher,
    folder: str,
    data: DataBundle,
    device: torch.device,
    where: str,
    progress: Optional[Progress],
) -> HfTeacher:
    tokenizer, pad = _tokenizer(folder, where)
    model = _load_classifier(folder, data.num_outputs, where, progress).to(device).eval()
    limit = getattr(model.config, "max_position_embeddings", None)
    length = _max_length(spec.max_length, tokenizer, int(limit) if isinstance(limit, int) else None)
    weights = next(os.path.join(folder, name) for name in WEIGHT_FILES if os.path.exists(os.path.join(folder, name)))
    return HfTeacher(model, tokenizer, pad, length, spec.batch_size, weights, where)


def build_huggingface(
    spec: HuggingFaceSpec,
    data: DataBundle,
    device: torch.device,
    progress: Progress,
    *,
    seed: int,
    state_dir: Optional[str],
    resume: bool,
    where: str = "teacher",
) -> tuple[TextTeacher, Optional[dict[str, Any]]]:
    """The teacher, and (for a fine-tuned one) its {history, metrics, seconds, bestEpoch}."""
    require_texts(data, where)
    if data.task != "classification":
        raise ConfigError(
            f"{where}.type: a '{spec.type}' teacher is a text classifier, but data.task is {data.task}",
            field=f"{where}.type",
        )
    if isinstance(spec, HuggingFaceOnnxTeacher):
        module = HfOnnxTeacher(spec, where)
        sample: Any = data.test.x[:2]
        width = module.outputs(Split(sample, None, data.test.texts[:2] if data.test.texts else None))
        if width.shape[1] != data.num_outputs:
            raise ConfigError(
                f"{where}.path: the ONNX teacher gives {width.shape[1]} outputs, the data has {data.num_outputs} "
                "classes",
                field=f"{where}.path",
                file=module.path,
            )
        return module, None
    folder = _folder(spec.path, where)
    if state_dir is not None and resume and os.path.isdir(fine_tuned_dir(state_dir, spec.name)):
        progress.emit({"event": "log", "message": f"{spec.name}: fine-tuned already, loaded"})
        return load_fine_tuned(spec, data, device, state_dir, where), None
    seed_everything(seed)
    teacher = _hf_teacher(spec, folder, data, device, where, progress)
    summary = _fine_tune(teacher, spec, data, device, progress, seed)
    if state_dir is not None:
        _save_fine_tuned(teacher, folder, fine_tuned_dir(state_dir, spec.name))
        teacher.path = next(
            os.path.join(fine_tuned_dir(state_dir, spec.name), name)
            for name in WEIGHT_FILES
            if os.path.exists(os.path.join(fine_tuned_dir(state_dir, spec.name), name))
        )
    return teacher, summary


def _linear_warmup(step: int, *, warmup: int, steps: int) -> float:
    """The learning rate's factor: up linearly over ``warmup`` steps, then down linearly to 0 at ``steps``."""
    if step < warmup:
        return (step + 1) / max(1, warmup)
    return max(0.0, (steps - step) / max(1, steps - warmup))


def _save_fine_tuned(teacher: HfTeacher, source: str, destination: str) -> None:
    """save_pretrained into a temporary folder renamed into place: a folder under the final name is complete."""
    with atomic_folder(destination) as temporary:
        teacher.model.save_pretrained(temporary)  # type: ignore[operator]
        for name in os.listdir(source):  # the tokenizer's files, as they came
            if name.startswith("tokenizer") or name in ("special_tokens_map.json", "vocab.txt"):
                shutil.copyfile(os.path.join(source, name), os.path.join(temporary, name))


def _fine_tune(
    teacher: HfTeacher, spec: HuggingFaceTeacher, data: DataBundle, device: torch.device, progress: Progress, seed: int
) -> dict[str, Any]:
    """AdamW with linear warmup then linear decay to 0 (BERT's recipe), cross-entropy on data.train's labels; each
    epoch measured on validation (else test), the best validation epoch kept."""
    texts = texts_of(data.train, teacher.where)
    assert data.train.y is not None
    labels = data.train.y.to(device)
    model = teacher.model
    steps = spec.epochs * math.ceil(len(texts) / spec.batch_size)
    no_decay = ("bias", "LayerNorm.weight", "norm.weight")  # as BERT: no weight decay on biases and norms
    named = list(model.named_parameters())
    groups = [
        {"params": [p for n, p in named if not n.endswith(no_decay)], "weight_decay": spec.weight_decay},
        {"params": [p for n, p in named if n.endswith(no_decay)], "weight_decay": 0.0},
    ]
    optimizer = torch.optim.AdamW(groups, lr=spec.lr)
    schedule = functools.partial(_linear_warmup, warmup=int(spec.warmup * steps), steps=steps)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, schedule)
    generator = torch.Generator().manual_seed(seed)
    encoder = teacher.encoder
    history: list[dict[str, Any]] = []
    best: tuple[float, int, Optional[dict[str, Any]]] = (-math.inf, 0, None)
    started = time.perf_counter()
    for epoch in range(spec.epochs):
        progress.check_cancel()
        epoch_started = time.perf_counter()
        model.train()
        order = torch.randperm(len(texts), generator=generator).tolist()
        total, seen = 0.0, 0
        for start in range(0, len(order), spec.batch_size):
            index = order[start : start + spec.batch_size]
            batch = next(encoder.batches([texts[i] for i in index], None))
            logits = teacher.logits(batch, device)
            loss = nn.functional.cross_entropy(logits.float(), labels[index])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()  # type: ignore[no-untyped-call]  # torch leaves Tensor.backward unannotated
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            scheduler.step()
            total += float(loss.detach()) * len(index)
            seen += len(index)
        if not math.isfinite(total):
            raise ConfigError(
                f"{teacher.where}.lr: fine-tuning diverged (the loss became NaN or infinite) at epoch {epoch + 1}; "
                "lower lr",
                field=f"{teacher.where}.lr",
            )
        seconds = time.perf_counter() - epoch_started
        split, prefix = (data.validation, "validation") if data.validation is not None else (data.test, "test")
        metrics: dict[str, Any] = {
            "loss": total / max(1, seen),
            "terms": {"hard": total / max(1, seen)},
            **split_metrics(teacher.outputs(split), split, data.task, prefix),
            "lr": float(scheduler.get_last_lr()[0]),
            "seconds": seconds,
            "samplesPerSecond": seen / seconds if seconds > 0 else 0.0,
        }
        history.append({"epoch": epoch + 1, **metrics})
        progress.emit(
            {
                "event": "epoch",
                "phase": "teacher",
                "name": spec.name,
                "epoch": epoch + 1,
                "epochs": spec.epochs,
                "metrics": metrics,
            }
        )
        score = float(metrics.get(f"{prefix}Accuracy", -metrics["loss"]))
        if data.validation is None or score > best[0]:
            best = (score, epoch + 1, copy.deepcopy(model.state_dict()))
    _, best_epoch, state = best
    if state is not None:
        model.load_state_dict(state)
    model.eval()
    final = dict(history[best_epoch - 1]) if history else {}
    final.update(split_metrics(teacher.outputs(data.test), data.test, data.task, "test"))
    return {
        "history": history,
        "metrics": final,
        "seconds": time.perf_counter() - started,
        "bestEpoch": best_epoch,
    }


# ---------------------------------------------------------------- a Distillery checkpoint with its own tokenizer


class RetokenizedTeacher(TextTeacher):
    """A Distillery text model whose tokenizer or text layout is not the data's: its token slots encoded from the raw
    texts with its own tokenizer.json, its fixed slots the data's (raw values renormalised as it was trained)."""

    def __init__(self, loaded: LoadedModel, data: DataBundle, where: str) -> None:
        super().__init__()
        from tokenizers import Tokenizer

        self.module, self.path, self.where = loaded.module, loaded.path, where
        layout = text_layout(loaded.preprocess, loaded.input_shape)
        data_layout = text_layout(data.preprocess, data.sample_shape)
        assert layout is not None and data_layout is not None and loaded.tokenizer is not None
        self.layout, self.data_fixed = layout, data_layout.fixed
        column = text_column(loaded.preprocess) or {}
        self.truncation = str(column.get("truncation", "right"))
        self.tokenizer = Tokenizer.from_str(loaded.tokenizer)
        self.data_norm, self.own_norm = data.normalization, loaded.normalization

    @staticmethod
    def mismatch(loaded: LoadedModel, data: DataBundle) -> Optional[str]:
        """Why the checkpoint's fixed columns are not the data's, or None when they are the same."""

        def fixed(preprocess: Optional[dict[str, Any]]) -> list[Any]:
            columns = (preprocess or {}).get("columns", [])
            return [column for column in columns if column.get("type") != "text"]

        own, theirs = fixed(loaded.preprocess), fixed(data.preprocess)
        if own == theirs:
            return None
        names = [column.get("name") for column in own]
        data_names = [column.get("name") for column in theirs]
        if names != data_names:
            return f"its fixed columns are {names}, the data's {data_names}"
        return "its fixed columns are encoded differently from the data's (categories, scaling or missing values)"

    def _fixed(self, x: torch.Tensor) -> torch.Tensor:
        fixed = x[:, : self.data_fixed].float()
        if self.data_norm is not None:
            mean = torch.as_tensor(self.data_norm["mean"][: self.data_fixed], device=x.device)
            std = torch.as_tensor(self.data_norm["std"][: self.data_fixed], device=x.device)
            fixed = fixed * std + mean
        if self.own_norm is not None:
            mean = torch.as_tensor(self.own_norm["mean"][: self.layout.fixed], device=x.device)
            std = torch.as_tensor(self.own_norm["std"][: self.layout.fixed], device=x.device)
            fixed = (fixed - mean) / std
        return fixed

    def outputs(self, split: Split) -> torch.Tensor:
        from .train import EVAL_BATCH

        texts = texts_of(split, self.where)
        replace = mask_replacement(self.tokenizer, split)
        parts = []
        was_training = self.module.training
        self.module.eval()
        with torch.no_grad():
            for start in range(0, len(texts), EVAL_BATCH):
                chunk = split.x[start : start + EVAL_BATCH]
                ids = encode_texts(
                    self.tokenizer,
                    texts[start : start + EVAL_BATCH],
                    max_length=self.layout.length,
                    pad=self.layout.pad,
                    special_tokens=False,
                    truncation=self.truncation,
                    pad_to=self.layout.length,
                    replace=replace,
                ).input_ids
                rows = torch.cat([self._fixed(chunk), torch.as_tensor(ids, device=chunk.device).float()], dim=1)
                parts.append(self.module(rows).float())
        self.module.train(was_training)
        return torch.cat(parts) if parts else torch.zeros((0, 0), device=split.x.device)


def retokenized(loaded: LoadedModel, data: DataBundle, where: str) -> Optional[RetokenizedTeacher]:
    """The checkpoint as a RetokenizedTeacher when it is a text model whose tokenizer or text layout differs from the
    data's; None when the data's rows fit it as they are (or it reads no text)."""
    own = text_layout(loaded.preprocess, loaded.input_shape)
    if own is None or loaded.tokenizer is None:
        return None
    data_layout = text_layout(data.preprocess, data.sample_shape)
    if data_layout is not None and loaded.tokenizer == data.tokenizer and loaded.input_shape == data.sample_shape:
        return None
    if data_layout is None:
        require_texts(data, where)
    why = RetokenizedTeacher.mismatch(loaded, data)
    if why is not None:
        raise ConfigError(
            f"{where}: the checkpoint reads its own tokenizer's ids, but {why}; its fixed columns must be the data's",
            field=where,
            file=loaded.path,
        )
    for name in ("train", "test"):
        texts_of(getattr(data, name), where)
    if loaded.num_outputs != data.num_outputs or loaded.task != data.task:
        raise ConfigError(
            f"{where}: the checkpoint is a {loaded.task} model with {loaded.num_outputs} outputs, the data is "
            f"{data.task} with {data.num_outputs}",
            field=where,
            file=loaded.path,
        )
    return RetokenizedTeacher(loaded, data, where)


def teacher_outputs(module: nn.Module, split: Split) -> torch.Tensor:
    """A teacher's outputs over a whole split: from the raw texts for a text teacher, else from the rows."""
    from .train import predict

    if isinstance(module, TextTeacher):
        return module.outputs(split)
    return predict(module, split.x)


def parameter_count(module: TextTeacher) -> int:
    """Its parameters: the torch model's, or the ONNX graph's initialisers."""
    if isinstance(module, HfOnnxTeacher):
        from .onnx_teacher import parameter_count as onnx_parameters

        return onnx_parameters(module.path)
    inner = module.model if isinstance(module, HfTeacher) else getattr(module, "module", module)
    return int(sum(p.numel() for p in inner.parameters()))
