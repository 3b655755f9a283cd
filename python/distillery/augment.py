"""Augmentation of training batches: shifts (random crops), flips, mixup, cutmix and Gaussian noise.

Beyer et al. 2022 ("Knowledge distillation: a good teacher is patient and consistent"): the teacher must see the
very batch the student sees, augmentation included, so a student whose batches are augmented gets its teacher's
outputs online (pipeline ``_online``), never from a cache over the un-augmented data.

Every random draw comes from the loop's seeded generator, so a run is repeatable and resumes exactly. Batches are
already normalised (zero mean, unit variance), so a shift pads with the mean and noise is in units of each input's
training standard deviation.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Optional, Union

import numpy as np
import torch

from .errors import ConfigError
from .spec import Augment

# Mixup and cutmix both on: each batch takes one of the two with this probability (timm's default switch).
CUTMIX_SHARE = 0.5
# augment: 'auto' crops by 1/8 of the side, up to the largest shift the schema accepts (Augment.shift's max).
MAX_AUTO_SHIFT = 8


@dataclass(frozen=True)
class Mix:
    """A mixed batch: row i is λ·x[i] + (1−λ)·x[partner[i]] (mixup) or x[i] with a box of x[partner[i]] (cutmix);
    a loss that reads labels is λ·loss(labels) + (1−λ)·loss(labels[partner])."""

    partner: torch.Tensor
    lam: float


def random_shift(x: torch.Tensor, max_shift: int, generator: torch.Generator) -> torch.Tensor:
    """Shifts each image by up to ``max_shift`` pixels in each direction (zero padding): a random crop of the
    image padded by ``max_shift``. Vectorised; works on the last two dimensions, so [N,H,W] and [N,C,H,W] both work.
    """
    if max_shift <= 0:
        return x
    height, width = x.shape[-2], x.shape[-1]
    padded = torch.nn.functional.pad(x, (max_shift, max_shift, max_shift, max_shift))
    n = x.shape[0]
    offsets = torch.randint(0, 2 * max_shift + 1, (2, n), generator=generator, device=generator.device).to(x.device)
    rows = (offsets[0][:, None] + torch.arange(height, device=x.device))[:, :, None]  # [N,H,1]
    cols = (offsets[1][:, None] + torch.arange(width, device=x.device))[:, None, :]  # [N,1,W]
    batch = torch.arange(n, device=x.device)[:, None, None]
    if x.dim() == 3:
        return padded[batch, rows, cols]
    moved = padded.movedim(1, -1)  # [N,H+2s,W+2s,C]
    return moved[batch, rows, cols].movedim(-1, 1)


def random_flip(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Mirrors each image left-right with probability ½."""
    flip = torch.rand(x.shape[0], generator=generator, device=generator.device).to(x.device) < 0.5
    return torch.where(flip.view(-1, *([1] * (x.dim() - 1))), x.flip(-1), x)


def _numpy_rng(generator: torch.Generator) -> np.random.Generator:
    """Beta draws (which torch cannot take from a generator) from a numpy stream seeded by the loop's generator."""
    seed = int(torch.randint(0, 2**62, (1,), generator=generator, device=generator.device))
    return np.random.default_rng(seed)


def mixup(x: torch.Tensor, alpha: float, generator: torch.Generator) -> tuple[torch.Tensor, Mix]:
    """Zhang et al. 2018: one λ ~ Beta(α, α) per batch, each row mixed with a random partner."""
    lam = float(_numpy_rng(generator).beta(alpha, alpha))
    partner = torch.randperm(x.shape[0], generator=generator, device=generator.device).to(x.device)
    return lam * x + (1.0 - lam) * x[partner], Mix(partner, lam)


def cutmix(x: torch.Tensor, alpha: float, generator: torch.Generator) -> tuple[torch.Tensor, Mix]:
    """Yun et al. 2019: a box of area ≈ (1−λ) of each image, λ ~ Beta(α, α), pasted from a random partner; λ is then
    corrected to the box's exact area after clipping at the border."""
    rng = _numpy_rng(generator)
    lam = float(rng.beta(alpha, alpha))
    height, width = x.shape[-2], x.shape[-1]
    cut_h, cut_w = int(height * np.sqrt(1.0 - lam)), int(width * np.sqrt(1.0 - lam))
    centre_y, centre_x = int(rng.integers(height)), int(rng.integers(width))
    top, bottom = max(centre_y - cut_h // 2, 0), min(centre_y + cut_h // 2, height)
    left, right = max(centre_x - cut_w // 2, 0), min(centre_x + cut_w // 2, width)
    partner = torch.randperm(x.shape[0], generator=generator, device=generator.device).to(x.device)
    mixed = x.clone()
    mixed[..., top:bottom, left:right] = x[partner][..., top:bottom, left:right]
    return mixed, Mix(partner, 1.0 - (bottom - top) * (right - left) / (height * width))


@dataclass(frozen=True)
class Augmenter:
    """A batch transform for one model's training, checked once against the data's sample shape."""

    spec: Augment

    @staticmethod
    def build(
        spec: Union[Augment, Literal["auto"], None], sample_shape: tuple[int, ...], where: str, *, convolutional: bool
    ) -> Optional[Augmenter]:
        spec = resolve(spec, sample_shape, convolutional=convolutional)
        if spec is None or not active(spec):
            return None
        image = len(sample_shape) >= 2
        for key, value in (("shift", spec.shift), ("flip", spec.flip), ("cutmix", spec.cutmix)):
            if value and not image:
                raise ConfigError(
                    f"{where}.{key}: needs images ([C,H,W] or [H,W] samples); these samples are vectors of "
                    f"shape {list(sample_shape)} (use noise or mixup)",
                    field=f"{where}.{key}",
                )
        return Augmenter(spec)

    def __call__(self, x: torch.Tensor, generator: torch.Generator) -> tuple[torch.Tensor, Optional[Mix]]:
        spec = self.spec
        if spec.shift:
            x = random_shift(x, spec.shift, generator)
        if spec.flip:
            x = random_flip(x, generator)
        if spec.noise:
            x = x + spec.noise * torch.randn(x.shape, generator=generator, device=generator.device).to(x.device)
        if spec.mixup and spec.cutmix:
            use_cutmix = bool(torch.rand((), generator=generator, device=generator.device) < CUTMIX_SHARE)
            return cutmix(x, spec.cutmix, generator) if use_cutmix else mixup(x, spec.mixup, generator)
        if spec.cutmix:
            return cutmix(x, spec.cutmix, generator)
        if spec.mixup:
            return mixup(x, spec.mixup, generator)
        return x, None


def resolve(
    spec: Union[Augment, Literal["auto"], None], sample_shape: tuple[int, ...], *, convolutional: bool
) -> Optional[Augment]:
    """``'auto'`` (a trained teacher's default, src/config/schema.ts ``TeacherTraining``), made concrete for the data
    and the model: a convolutional model on images ([H,W], or [C,H,W] with 1 or 3 channels) gets random crops by 1/8
    of the shorter side (4 pixels on 32×32, 3 on 28×28; at most 8, the schema's limit) and, in colour (3 channels)
    alone, left-right flips — a mirrored digit or letter is another symbol, a mirrored photo the same scene. Anything
    else gets none: tables and vectors, and models without convolutions, which see a shifted image as new inputs
    (an MLP-64 teacher, 3 epochs on 600 MNIST digits: 82.0 % test accuracy without crops, 65.5 % with 3-pixel ones)."""
    if spec != "auto":
        return spec
    if not convolutional:
        return None
    if len(sample_shape) == 2:
        channels, height, width = 1, *sample_shape
    elif len(sample_shape) == 3 and sample_shape[0] in (1, 3):
        channels, height, width = sample_shape
    else:
        return None
    shift = min(min(height, width) // 8, MAX_AUTO_SHIFT)
    return Augment(shift=shift, flip=channels == 3, noise=0.0, mixup=0.0, cutmix=0.0)


def describe(spec: Optional[Augment]) -> str:
    """What a resolved ``'auto'`` chose, for the log: 'shift 4, flip' or 'none'."""
    if spec is None or not active(spec):
        return "none"
    return ", ".join(
        part for part in (f"shift {spec.shift}" if spec.shift else "", "flip" if spec.flip else "") if part
    )


def active(spec: Augment) -> bool:
    """Whether the options change the batch at all (all-zero options are no augmentation)."""
    return bool(spec.shift or spec.flip or spec.noise or spec.mixup or spec.cutmix)
