"""Model builders: ``mlp`` (with Ba & Caruana's linear bottleneck), ``lenet``, ``resnet`` (small, or CIFAR-style by
depth and width: resnet8x4, resnet32x4, …), ``wrn`` (wide ResNets), ``mobilenetv2``, the text families
(text_models.py: ``embedding-bag``, ``textcnn``, ``bilstm``, ``transformer``) and user modules.

A model config is a dict with a ``type``; ``build_model(config, input_shape,
num_outputs)`` returns an ``nn.Module`` whose input is one batch of samples
of ``input_shape`` and whose output is [batch, num_outputs] (logits for
classification, values for regression).
"""

from __future__ import annotations

import importlib
import math
from collections.abc import Callable
from typing import Any, Optional

import torch
from torch import nn

from .errors import ConfigError
from .spec import (
    TEXT_MODELS,
    CustomModel,
    LeNetModel,
    MlpModel,
    MobileNetV2Model,
    ModelSpec,
    ResNetModel,
    WrnModel,
)
from .text import text_layout
from .text_models import build_text_model, lstm_flops

ACTIVATIONS: dict[str, Callable[[], nn.Module]] = {
    "relu": nn.ReLU,
    "tanh": nn.Tanh,
    "sigmoid": nn.Sigmoid,
    "gelu": nn.GELU,
}


def _activation(name: str, where: str) -> nn.Module:
    if name not in ACTIVATIONS:
        raise ConfigError(
            f"{where}.activation: expected one of {', '.join(ACTIVATIONS)}, got '{name}'", field=f"{where}.activation"
        )
    return ACTIVATIONS[name]()


class MLP(nn.Module):
    """Fully connected net. With ``bottleneck=k`` the first (widest) weight matrix W (D×H) is factored as
    U (D×k) · V (k×H) through k linear units — no non-linearity between them — so it costs k(D+H)
    weights instead of D·H (Ba & Caruana 2014)."""

    def __init__(
        self,
        input_shape: list[int],
        num_outputs: int,
        hidden: list[int],
        activation: str,
        dropout: float,
        input_dropout: float,
        bottleneck: Optional[int],
        where: str = "model",
    ):
        super().__init__()
        features = math.prod(input_shape)
        layers: list[nn.Module] = [nn.Flatten()]
        if input_dropout > 0:
            layers.append(nn.Dropout(input_dropout))
        width = features
        for index, units in enumerate(hidden):
            if index == 0 and bottleneck:
                layers.append(nn.Linear(width, bottleneck, bias=False))  # U: linear, no bias, no activation
                width = bottleneck
            layers += [nn.Linear(width, units), _activation(activation, where)]
            if dropout > 0:
                layers.append(nn.Dropout(dropout))
            width = units
        if bottleneck and not hidden:
            raise ConfigError(
                f"{where}.bottleneck: needs at least one hidden layer to factor", field=f"{where}.bottleneck"
            )
        layers.append(nn.Linear(width, num_outputs))
        self.layers = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        outputs: torch.Tensor = self.layers(x)
        return outputs


class _ChannelFirst(nn.Module):
    """Lets image models take [N,H,W] (one channel) as well as [N,C,H,W] batches."""

    def __init__(self, input_shape: list[int]):
        super().__init__()
        self.add_channel = len(input_shape) == 2

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.unsqueeze(1) if self.add_channel else x


def _image_shape(input_shape: list[int], where: str) -> tuple[int, int, int]:
    if len(input_shape) == 2:
        return 1, input_shape[0], input_shape[1]
    if len(input_shape) == 3:
        return input_shape[0], input_shape[1], input_shape[2]
    raise ConfigError(
        f"{where}.type: image models need [C,H,W] or [H,W] samples, got {input_shape}", field=f"{where}.type"
    )


class LeNet(nn.Module):
    """LeNet-5 style: conv5 → pool → conv5 → pool → fully connected layers."""

    def __init__(
        self,
        input_shape: list[int],
        num_outputs: int,
        channels: list[int],
        hidden: list[int],
        activation: str,
        dropout: float,
        where: str = "model",
    ):
        super().__init__()
        in_channels, height, width = _image_shape(input_shape, where)
        features: list[nn.Module] = [_ChannelFirst(input_shape)]
        for out_channels in channels:
            features += [
                nn.Conv2d(in_channels, out_channels, 5, padding=2),
                _activation(activation, where),
                nn.MaxPool2d(2),
            ]
            in_channels, height, width = out_channels, height // 2, width // 2
        if height < 1 or width < 1:
            raise ConfigError(
                f"{where}.channels: too many pooling stages for {input_shape} inputs", field=f"{where}.channels"
            )
        self.features = nn.Sequential(*features)
        head: list[nn.Module] = [nn.Flatten()]
        width_in = in_channels * height * width
        for units in hidden:
            head += [nn.Linear(width_in, units), _activation(activation, where)]
            if dropout > 0:
                head.append(nn.Dropout(dropout))
            width_in = units
        head.append(nn.Linear(width_in, num_outputs))
        self.head = nn.Sequential(*head)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        outputs: torch.Tensor = self.head(self.features(x))
        return outputs


class _ResidualBlock(nn.Module):
    def __init__(self, in_channels: int, out_channels: int, stride: int):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, bias=False),
            nn.BatchNorm2d(out_channels),
            nn.ReLU(),
            nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False),
            nn.BatchNorm2d(out_channels),
        )
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or in_channels != out_channels:
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=False), nn.BatchNorm2d(out_channels)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.body(x) + self.shortcut(x))


class SmallResNet(nn.Module):
    """A small ResNet: a 3×3 stem, then one residual block per stage (stride 2 after the first), global pooling."""

    def __init__(self, input_shape: list[int], num_outputs: int, channels: list[int], where: str = "model"):
        super().__init__()
        in_channels, _, _ = _image_shape(input_shape, where)
        layers: list[nn.Module] = [
            _ChannelFirst(input_shape),
            nn.Conv2d(in_channels, channels[0], 3, padding=1, bias=False),
            nn.BatchNorm2d(channels[0]),
            nn.ReLU(),
        ]
        previous = channels[0]
        for index, width in enumerate(channels):
            layers.append(_ResidualBlock(previous, width, 1 if index == 0 else 2))
            previous = width
        layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(previous, num_outputs)]
        self.layers = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        outputs: torch.Tensor = self.layers(x)
        return outputs


class CifarResNet(nn.Module):
    """He et al.'s CIFAR ResNet: a 3×3 stem, then (depth − 2) / 6 basic blocks in each stage (stride 2 from the second
    stage on), global pooling. Stage widths are ``channels`` × ``widen``: depth 8, widen 4 is the distillation
    literature's resnet8x4 (CRD, Tian et al. 2020), depth 32, widen 4 its resnet32x4 — with the stem as wide as the
    first stage (CRD's stem is half as wide), so the counts come out a few thousand parameters apart."""

    def __init__(
        self,
        input_shape: list[int],
        num_outputs: int,
        channels: list[int],
        depth: int,
        widen: int,
        where: str = "model",
    ):
        super().__init__()
        if depth < 8 or (depth - 2) % 6:
            raise ConfigError(
                f"{where}.depth: a CIFAR ResNet has depth 6n + 2 (8, 20, 32, 56, …), got {depth}",
                field=f"{where}.depth",
            )
        blocks = (depth - 2) // 6
        in_channels, _, _ = _image_shape(input_shape, where)
        widths = [width * widen for width in channels]
        layers: list[nn.Module] = [
            _ChannelFirst(input_shape),
            nn.Conv2d(in_channels, widths[0], 3, padding=1, bias=False),
            nn.BatchNorm2d(widths[0]),
            nn.ReLU(),
        ]
        previous = widths[0]
        for stage, width in enumerate(widths):
            for block in range(blocks):
                layers.append(_ResidualBlock(previous, width, 2 if stage > 0 and block == 0 else 1))
                previous = width
        layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(previous, num_outputs)]
        self.layers = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        outputs: torch.Tensor = self.layers(x)
        return outputs


class _WideBlock(nn.Module):
    """Zagoruyko & Komodakis' pre-activation block: BN-ReLU-conv3×3 (-dropout) -BN-ReLU-conv3×3, plus the shortcut."""

    def __init__(self, in_channels: int, out_channels: int, stride: int, dropout: float):
        super().__init__()
        self.bn1, self.conv1 = (
            nn.BatchNorm2d(in_channels),
            nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, bias=False),
        )
        self.bn2, self.conv2 = (
            nn.BatchNorm2d(out_channels),
            nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False),
        )
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.project = in_channels != out_channels or stride != 1
        self.shortcut: nn.Module = (
            nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=False) if self.project else nn.Identity()
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        activated = torch.relu(self.bn1(x))
        out = self.conv2(torch.relu(self.bn2(self.dropout(self.conv1(activated)))))
        outputs: torch.Tensor = out + (self.shortcut(activated) if self.project else x)
        return outputs


class WideResNet(nn.Module):
    """WRN-depth-widen (Zagoruyko & Komodakis 2016): (depth − 4) / 6 wide blocks per stage, widths 16·k, 32·k, 64·k.
    WRN-40-2 and WRN-16-2 are the distillation literature's teacher and student."""

    def __init__(
        self, input_shape: list[int], num_outputs: int, depth: int, widen: int, dropout: float, where: str = "model"
    ):
        super().__init__()
        if depth < 10 or (depth - 4) % 6:
            raise ConfigError(
                f"{where}.depth: a wide ResNet has depth 6n + 4 (10, 16, 22, 28, 40, …), got {depth}",
                field=f"{where}.depth",
            )
        blocks = (depth - 4) // 6
        in_channels, _, _ = _image_shape(input_shape, where)
        layers: list[nn.Module] = [_ChannelFirst(input_shape), nn.Conv2d(in_channels, 16, 3, padding=1, bias=False)]
        previous = 16
        for stage, width in enumerate((16 * widen, 32 * widen, 64 * widen)):
            for block in range(blocks):
                layers.append(_WideBlock(previous, width, 2 if stage > 0 and block == 0 else 1, dropout))
                previous = width
        layers += [
            nn.BatchNorm2d(previous),
            nn.ReLU(),
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
            nn.Linear(previous, num_outputs),
        ]
        self.layers = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        outputs: torch.Tensor = self.layers(x)
        return outputs


class _InvertedResidual(nn.Module):
    def __init__(self, in_channels: int, out_channels: int, stride: int, expand: int):
        super().__init__()
        hidden = in_channels * expand
        layers: list[nn.Module] = []
        if expand != 1:
            layers += [nn.Conv2d(in_channels, hidden, 1, bias=False), nn.BatchNorm2d(hidden), nn.ReLU6()]
        layers += [
            nn.Conv2d(hidden, hidden, 3, stride=stride, padding=1, groups=hidden, bias=False),
            nn.BatchNorm2d(hidden),
            nn.ReLU6(),
            nn.Conv2d(hidden, out_channels, 1, bias=False),
            nn.BatchNorm2d(out_channels),
        ]
        self.body = nn.Sequential(*layers)
        self.residual = stride == 1 and in_channels == out_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        outputs: torch.Tensor = x + self.body(x) if self.residual else self.body(x)
        return outputs


# (expansion t, channels c, blocks n, stride s) — Sandler et al. 2018, with the first two strides 1 for 32×32 inputs.
_MOBILENETV2 = (
    (1, 16, 1, 1),
    (6, 24, 2, 1),
    (6, 32, 3, 2),
    (6, 64, 4, 2),
    (6, 96, 3, 1),
    (6, 160, 3, 2),
    (6, 320, 1, 1),
)


def _divisible(value: float, by: int = 8) -> int:
    """torchvision's rounding of scaled channel counts: to a multiple of 8, never more than 10 % down."""
    rounded = max(by, int(value + by / 2) // by * by)
    return rounded + by if rounded < 0.9 * value else rounded


class MobileNetV2(nn.Module):
    """MobileNetV2 (Sandler et al. 2018) for small images: a stride-1 3×3 stem, inverted residual blocks, a 1×1 conv
    to 1280·max(1, width) channels, global pooling. ``width`` scales every layer (0.5 is the literature's CIFAR
    student)."""

    def __init__(self, input_shape: list[int], num_outputs: int, width: float, dropout: float, where: str = "model"):
        super().__init__()
        in_channels, _, _ = _image_shape(input_shape, where)
        stem = _divisible(32 * width)
        layers: list[nn.Module] = [
            _ChannelFirst(input_shape),
            nn.Conv2d(in_channels, stem, 3, padding=1, bias=False),
            nn.BatchNorm2d(stem),
            nn.ReLU6(),
        ]
        previous = stem
        for expand, channels, blocks, stride in _MOBILENETV2:
            out = _divisible(channels * width)
            for block in range(blocks):
                layers.append(_InvertedResidual(previous, out, stride if block == 0 else 1, expand))
                previous = out
        last = _divisible(1280 * max(1.0, width))
        layers += [
            nn.Conv2d(previous, last, 1, bias=False),
            nn.BatchNorm2d(last),
            nn.ReLU6(),
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
        ]
        if dropout > 0:
            layers.append(nn.Dropout(dropout))
        layers.append(nn.Linear(last, num_outputs))
        self.layers = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        outputs: torch.Tensor = self.layers(x)
        return outputs


def _custom(config: CustomModel, input_shape: list[int], num_outputs: int, where: str) -> nn.Module:
    """Imports ``package.module:ClassName`` and calls it with ``kwargs``. This executes the user's code, by design."""
    target = config.module
    module_name, _, class_name = target.partition(":")
    if not class_name:
        raise ConfigError(
            f"{where}.module: expected 'package.module:ClassName', got '{target}'", field=f"{where}.module"
        )
    try:
        factory = getattr(importlib.import_module(module_name), class_name)
    except (ImportError, AttributeError) as error:
        raise ConfigError(f"{where}.module: cannot import '{target}': {error}", field=f"{where}.module") from error
    # Only a torch.nn.Module class is ever called: a config (or a checkpoint's recorded config) naming any other
    # callable — os:system, subprocess:run, builtins:eval — is refused before it runs.
    if not (isinstance(factory, type) and issubclass(factory, nn.Module)):
        raise ConfigError(f"{where}.module: '{target}' is not a torch.nn.Module class", field=f"{where}.module")
    kwargs = dict(config.kwargs)
    model = factory(**kwargs)
    if not isinstance(model, nn.Module):
        raise ConfigError(f"{where}.module: '{target}' did not return a torch.nn.Module", field=f"{where}.module")
    _check_output_shape(model, target, input_shape, num_outputs, where)
    return model


def _check_output_shape(model: nn.Module, target: str, input_shape: list[int], num_outputs: int, where: str) -> None:
    """A user module must map [N, *input_shape] to [N, num_outputs]: one output per class (or target) of the data,
    as the teacher's — checked on a dummy batch now rather than as a shape error deep in the loss."""
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            output = model(torch.zeros([2, *input_shape]))
    except Exception as error:
        raise ConfigError(
            f"{where}.module: '{target}' cannot run on samples of shape {input_shape}: {type(error).__name__}: {error}",
            field=f"{where}.module",
        ) from error
    finally:
        model.train(was_training)
    shape = list(output.shape) if isinstance(output, torch.Tensor) else None
    if shape != [2, num_outputs]:
        raise ConfigError(
            f"{where}.module: '{target}' returns outputs of shape {shape} for a batch of 2 samples of shape "
            f"{input_shape}; expected [2, {num_outputs}] (one output per class or target of the data)",
            field=f"{where}.module",
        )


def build_model(
    config: ModelSpec,
    input_shape: list[int],
    num_outputs: int,
    where: str = "model",
    preprocess: Optional[dict[str, Any]] = None,
) -> nn.Module:
    """The model of ``config`` for samples of ``input_shape``; ``preprocess`` (the data's, or the checkpoint's
    recorded spec) gives a text model its layout (text.py). A text model needs a text column; the other built-in
    families refuse one (a ``custom`` module gets the packed rows as they are)."""
    layout = text_layout(preprocess, input_shape)
    if isinstance(config, TEXT_MODELS):
        return build_text_model(config, layout, num_outputs, where)
    if layout is not None and not isinstance(config, CustomModel):
        raise ConfigError(
            f"{where}.type: the data has a text column ({layout.column!r}), which '{getattr(config, 'type', '?')}' "
            "cannot read; use a text model: embedding-bag, textcnn, bilstm or transformer",
            field=f"{where}.type",
        )
    if isinstance(config, MlpModel):
        return MLP(
            input_shape,
            num_outputs,
            list(config.hidden),
            config.activation,
            config.dropout,
            config.input_dropout,
            config.bottleneck,
            where,
        )
    if isinstance(config, LeNetModel):
        return LeNet(
            input_shape,
            num_outputs,
            list(config.channels),
            list(config.hidden),
            config.activation,
            config.dropout,
            where,
        )
    if isinstance(config, ResNetModel):
        if config.depth is not None:
            return CifarResNet(input_shape, num_outputs, list(config.channels), config.depth, config.widen or 1, where)
        return SmallResNet(input_shape, num_outputs, [width * (config.widen or 1) for width in config.channels], where)
    if isinstance(config, WrnModel):
        return WideResNet(input_shape, num_outputs, config.depth, config.widen, config.dropout, where)
    if isinstance(config, MobileNetV2Model):
        return MobileNetV2(input_shape, num_outputs, config.width, config.dropout, where)
    if isinstance(config, CustomModel):
        return _custom(config, input_shape, num_outputs, where)
    raise ConfigError(f"{where}.type: a {type(config).__name__} cannot be built here", field=f"{where}.type")


class OutputScale(nn.Module):
    """Regression: the inner network predicts standardised targets and this maps them to real units,
    y = z·std + mean. Trained this way the net learns at the scale that suits it, while losses, metrics,
    teachers' outputs and the exported ONNX all speak the targets' own units."""

    def __init__(self, inner: nn.Module, mean: list[float], std: list[float]):
        super().__init__()
        self.inner = inner
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32))
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        outputs: torch.Tensor = self.inner(x) * self.std + self.mean
        return outputs


def build_for_task(
    config: ModelSpec,
    input_shape: list[int],
    num_outputs: int,
    target_scale: Optional[dict[str, list[float]]] = None,
    where: str = "model",
    preprocess: Optional[dict[str, Any]] = None,
) -> nn.Module:
    """``build_model``, behind an OutputScale when the targets are real-valued."""
    model = build_model(config, input_shape, num_outputs, where, preprocess)
    return OutputScale(model, target_scale["mean"], target_scale["std"]) if target_scale else model


def count_parameters(model: nn.Module) -> int:
    return sum(parameter.numel() for parameter in model.parameters())


def flops_per_sample(model: nn.Module, input_shape: list[int]) -> int:
    """Forward FLOPs for one sample (a multiply-add counts 2), from Linear, Conv1d/Conv2d and LSTM layers — the rest
    (embedding lookups, attention's products) is left out. Measured with forward hooks on one dummy sample (for a
    text model: an empty text, padded to maxLength)."""
    total = 0

    def linear_hook(module: nn.Linear, _inputs: Any, output: torch.Tensor) -> None:
        nonlocal total
        rows = output.numel() // output.shape[-1]
        total += 2 * rows * module.in_features * module.out_features

    def conv_hook(module: nn.Conv2d, _inputs: Any, output: torch.Tensor) -> None:
        nonlocal total
        kernel = module.kernel_size[0] * module.kernel_size[1] * (module.in_channels // module.groups)
        total += 2 * output.numel() * kernel

    def conv1d_hook(module: nn.Conv1d, _inputs: Any, output: torch.Tensor) -> None:
        nonlocal total
        total += 2 * output.numel() * module.kernel_size[0] * (module.in_channels // module.groups)

    def lstm_hook(module: nn.LSTM, inputs: Any, _output: Any) -> None:
        nonlocal total
        total += lstm_flops(module, int(inputs[0].shape[1 if module.batch_first else 0]))

    hooks = []
    for module in model.modules():
        if isinstance(module, nn.Linear):
            hooks.append(module.register_forward_hook(linear_hook))
        elif isinstance(module, nn.Conv2d):
            hooks.append(module.register_forward_hook(conv_hook))
        elif isinstance(module, nn.Conv1d):
            hooks.append(module.register_forward_hook(conv1d_hook))
        elif isinstance(module, nn.LSTM):
            hooks.append(module.register_forward_hook(lstm_hook))
    was_training = model.training
    model.eval()
    try:
        device = next((p.device for p in model.parameters()), torch.device("cpu"))
        with torch.no_grad():
            model(torch.zeros([1, *input_shape], device=device))
    finally:
        for hook in hooks:
            hook.remove()
        model.train(was_training)
    return total
