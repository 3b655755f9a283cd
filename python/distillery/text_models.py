"""Text models: ``embedding-bag`` (fastText-style), ``textcnn`` (Kim 2014), ``bilstm`` (Tang et al. 2019's student)
and ``transformer`` (a small encoder).

Each takes the packed float32 row of a table with a text column (text.py): ``[F fixed slots | token ids]``. It reads
at most L token slots, casts them to int64 inside the graph, and masks the pad id, so its output for a row does not
change when pad slots are appended or removed: the runtime sends ``[N, F + longest text of the batch]`` (the exported
graph's axis 1 is dynamic). The fixed slots (numeric, boolean, one-hot columns) join the pooled text features before
the head.
"""

from __future__ import annotations

from typing import Optional

import torch
import torch.nn.functional as F
from torch import nn

from .errors import ConfigError
from .spec import BiLstmModel, EmbeddingBagModel, ModelSpec, TextCnnModel, TransformerModel
from .text import TextLayout, require_text, trimmed

BIGRAM_PRIME = 1_000_003  # bigram (a, b) hashes to (a · BIGRAM_PRIME + b) mod buckets


class TextModel(nn.Module):
    """Base: splits a packed row into its fixed slots, its token ids (int64, at most L) and their non-pad mask."""

    def __init__(self, layout: TextLayout):
        super().__init__()
        self.layout = layout
        self.fixed, self.length, self.pad, self.vocab = layout.fixed, layout.length, layout.pad, layout.vocab
        self.input_mean: Optional[torch.Tensor]
        self.input_std: Optional[torch.Tensor]
        self.register_buffer("input_mean", None, persistent=False)
        self.register_buffer("input_std", None, persistent=False)

    def normalize_fixed(self, mean: list[float], std: list[float]) -> None:
        """Standardise the fixed slots inside the model (the exported graph takes raw rows, export.Normalized): the
        token ids go from the input straight to their integer cast, which keeps them exact in an fp16 variant."""
        self.input_mean = torch.tensor(mean[: self.fixed], dtype=torch.float32)
        self.input_std = torch.tensor(std[: self.fixed], dtype=torch.float32)

    def unpack(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        fixed = x[:, : self.fixed].float()
        if self.input_mean is not None and self.input_std is not None:
            fixed = (fixed - self.input_mean) / self.input_std
        ids = x[:, self.fixed : self.fixed + self.length].long()
        return fixed, ids, ids != self.pad


def layout_of(model: nn.Module) -> Optional[TextLayout]:
    """The text layout a model reads: a text model's, or the one shared by every member of an ensemble of text
    models (checkpoints.Ensemble); None for any other model, whose rows are never cut."""
    if isinstance(model, TextModel):
        return model.layout
    members = getattr(model, "members", None)
    if isinstance(members, nn.ModuleList) and len(members) > 0 and all(isinstance(m, TextModel) for m in members):
        layouts = {member.layout for member in members if isinstance(member, TextModel)}
        return layouts.pop() if len(layouts) == 1 else None
    return None


def trim_padding(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """A text model's batch without its trailing all-pad slots (text.trimmed): a BiLSTM over SST-2's phrases takes
    about 3× fewer steps. Other models' batches pass unchanged."""
    layout = layout_of(model)
    return x if layout is None or x.dim() != 2 else trimmed(x, layout)


def by_length(x: torch.Tensor, layout: TextLayout) -> torch.Tensor:
    """The order of the rows by their text's length: predicting a whole split in that order, each batch cut after
    its longest text, costs what the texts cost (a teacher labelling SST-2's phrases: several times less than
    batches in file order, each as long as its longest phrase)."""
    lengths = (x[:, layout.fixed : layout.fixed + layout.length] != layout.pad).sum(1)
    return torch.argsort(lengths, stable=True)


def _head(inputs: int, hidden: list[int], num_outputs: int, dropout: float) -> nn.Sequential:
    layers: list[nn.Module] = []
    for units in hidden:
        layers += [nn.Linear(inputs, units), nn.ReLU()]
        if dropout > 0:
            layers.append(nn.Dropout(dropout))
        inputs = units
    if dropout > 0 and not hidden:
        layers.append(nn.Dropout(dropout))
    layers.append(nn.Linear(inputs, num_outputs))
    return nn.Sequential(*layers)


class EmbeddingBag(TextModel):
    """Token and hashed-bigram embeddings averaged over the text's real tokens and bigrams, the fixed slots beside
    them, then one linear layer (Joulin et al. 2017, fastText). An empty text averages to zeros."""

    def __init__(self, layout: TextLayout, num_outputs: int, dim: int, buckets: int, dropout: float):
        super().__init__(layout)
        self.tokens = nn.Embedding(layout.vocab, dim)
        self.buckets = buckets
        self.bigrams = nn.Embedding(buckets, dim) if buckets > 0 else None
        self.head = _head(dim + layout.fixed, [], num_outputs, dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        fixed, ids, mask = self.unpack(x)
        weight = mask.unsqueeze(-1).float()
        total = (self.tokens(ids) * weight).sum(1)
        count = weight.sum(1)
        if self.bigrams is not None:
            pairs = (mask[:, :-1] & mask[:, 1:]).unsqueeze(-1).float()
            hashed = torch.remainder(ids[:, :-1] * BIGRAM_PRIME + ids[:, 1:], self.buckets)
            total = total + (self.bigrams(hashed) * pairs).sum(1)
            count = count + pairs.sum(1)
        pooled = total / count.clamp(min=1.0)
        outputs: torch.Tensor = self.head(torch.cat([pooled, fixed], dim=1))
        return outputs


class TextCnn(TextModel):
    """Kim (2014): convolutions of several widths over the token embeddings, ReLU, max over time, then a linear
    layer. Pad embeddings are zeroed and a window that holds no real token is left out of the max, so pads appended
    change nothing; an empty text pools to zeros."""

    def __init__(self, layout: TextLayout, num_outputs: int, dim: int, widths: list[int], maps: int, dropout: float):
        super().__init__(layout)
        self.embedding = nn.Embedding(layout.vocab, dim)
        self.convs = nn.ModuleList([nn.Conv1d(dim, maps, width, padding=width - 1) for width in widths])
        for width in widths:
            self.register_buffer(f"window{width}", torch.ones(1, 1, width), persistent=False)
        self.widths = list(widths)
        self.head = _head(maps * len(widths) + layout.fixed, [], num_outputs, dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        fixed, ids, mask = self.unpack(x)
        real = mask.unsqueeze(1).float()  # [N, 1, T]
        embedded = (self.embedding(ids) * real.transpose(1, 2)).transpose(1, 2)  # [N, D, T], pads zeroed
        pooled = []
        for width, conv in zip(self.widths, self.convs, strict=True):
            window: torch.Tensor = getattr(self, f"window{width}")
            # A window counts when it covers at least one real token; ReLU outputs are >= 0, so zeroing the others
            # leaves the max of the real windows (and 0 for an empty text).
            valid = (F.conv1d(real, window, padding=width - 1) > 0.5).float()
            pooled.append((torch.relu(conv(embedded)) * valid).amax(dim=2))
        outputs: torch.Tensor = self.head(torch.cat([*pooled, fixed], dim=1))
        return outputs


class BiLstm(TextModel):
    """Tang et al. (2019)'s student: a one-layer bidirectional LSTM, max-pooled over the real tokens, then an MLP.

    The backward direction is a second forward LSTM run over the text's real tokens reversed (pads stay at the end),
    so it starts at the last real token whatever the padding; both export as standard ONNX LSTM ops."""

    def __init__(self, layout: TextLayout, num_outputs: int, dim: int, hidden: int, head: list[int], dropout: float):
        super().__init__(layout)
        self.embedding = nn.Embedding(layout.vocab, dim)
        self.forward_lstm = nn.LSTM(dim, hidden, batch_first=True)
        self.backward_lstm = nn.LSTM(dim, hidden, batch_first=True)
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.head = _head(2 * hidden + layout.fixed, head, num_outputs, dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        fixed, ids, mask = self.unpack(x)
        embedded = self.dropout(self.embedding(ids))
        lengths = mask.long().sum(1, keepdim=True)  # [N, 1]
        positions = torch.cumsum(torch.ones_like(ids), dim=1) - 1  # [N, T]; no Range op (fp16 converters trip on it)
        reverse = torch.where(positions < lengths, lengths - 1 - positions, positions)  # its own inverse
        forward_out, _ = self.forward_lstm(embedded)
        flipped = torch.gather(embedded, 1, reverse.unsqueeze(-1).expand(-1, -1, embedded.shape[-1]))
        backward_out, _ = self.backward_lstm(flipped)
        backward_out = torch.gather(backward_out, 1, reverse.unsqueeze(-1).expand(-1, -1, backward_out.shape[-1]))
        states = torch.cat([forward_out, backward_out], dim=2)
        # LSTM outputs lie in (-1, 1): filling pads with -1 keeps them out of the max; an empty text pools to -1.
        pooled = states.masked_fill(~mask.unsqueeze(-1), -1.0).amax(dim=1)
        outputs: torch.Tensor = self.head(torch.cat([self.dropout(pooled), fixed], dim=1))
        return outputs


class _EncoderBlock(nn.Module):
    """Pre-norm encoder block: self-attention (PyTorch's scaled-dot-product attention) then a GELU feed-forward."""

    def __init__(self, width: int, heads: int, ff: int, dropout: float):
        super().__init__()
        self.heads, self.dropout = heads, dropout
        self.norm1, self.norm2 = nn.LayerNorm(width), nn.LayerNorm(width)
        self.qkv, self.out = nn.Linear(width, 3 * width), nn.Linear(width, width)
        self.ff = nn.Sequential(nn.Linear(width, ff), nn.GELU(), nn.Linear(ff, width))
        self.drop = nn.Dropout(dropout) if dropout > 0 else nn.Identity()

    def forward(self, h: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        n, t, width = h.shape
        q, k, v = self.qkv(self.norm1(h)).reshape(n, t, 3, self.heads, width // self.heads).permute(2, 0, 3, 1, 4)
        attended = F.scaled_dot_product_attention(
            q, k, v, attn_mask=bias.to(q.dtype), dropout_p=self.dropout if self.training else 0.0
        )
        h = h + self.drop(self.out(attended.transpose(1, 2).reshape(n, t, width)))
        outputs: torch.Tensor = h + self.drop(self.ff(self.norm2(h)))
        return outputs


class TextTransformer(TextModel):
    """A small encoder: token embeddings plus learned positions (up to L), pre-norm blocks whose attention ignores
    pad keys, a final norm, the mean over real tokens, then a linear layer."""

    MASKED = -1.0e4  # an additive bias that softmax turns into exactly 0 in float32, and that float16 can hold

    def __init__(
        self, layout: TextLayout, num_outputs: int, layers: int, heads: int, width: int, ff: int, dropout: float
    ):
        super().__init__(layout)
        self.embedding = nn.Embedding(layout.vocab, width)
        self.positions = nn.Parameter(torch.randn(layout.length, width) * 0.02)
        self.blocks = nn.ModuleList([_EncoderBlock(width, heads, ff, dropout) for _ in range(layers)])
        self.norm = nn.LayerNorm(width)
        self.drop = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.head = _head(width + layout.fixed, [], num_outputs, 0.0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        fixed, ids, mask = self.unpack(x)
        # A slice of the learned positions by the width sent (no Range op, which breaks fp16 conversion).
        h = self.drop(self.embedding(ids) + self.positions[: ids.shape[1]])
        bias = (~mask).float().mul(self.MASKED)[:, None, None, :]  # [N, 1, 1, T]
        for block in self.blocks:
            h = block(h, bias)
        weight = mask.unsqueeze(-1).float()
        pooled = (self.norm(h) * weight).sum(1) / weight.sum(1).clamp(min=1.0)
        outputs: torch.Tensor = self.head(torch.cat([self.drop(pooled), fixed], dim=1))
        return outputs


TEXT_TYPES = ("embedding-bag", "textcnn", "bilstm", "transformer")


def build_text_model(config: ModelSpec, layout: TextLayout | None, num_outputs: int, where: str) -> nn.Module:
    """One of the text families for ``layout`` (a ConfigError naming ``{where}.type`` when the data has no text)."""
    kind = str(getattr(config, "type", "?"))
    text = require_text(layout, kind, where)
    if isinstance(config, EmbeddingBagModel):
        return EmbeddingBag(text, num_outputs, config.dim, config.buckets, config.dropout)
    if isinstance(config, TextCnnModel):
        too_wide = [width for width in config.widths if width > text.length]
        if too_wide:
            raise ConfigError(
                f"{where}.widths: windows of {too_wide} tokens are wider than the text's maxLength {text.length}",
                field=f"{where}.widths",
            )
        return TextCnn(text, num_outputs, config.dim, list(config.widths), config.maps, config.dropout)
    if isinstance(config, BiLstmModel):
        return BiLstm(text, num_outputs, config.dim, config.hidden, list(config.head), config.dropout)
    if isinstance(config, TransformerModel):
        if config.width % config.heads:
            raise ConfigError(
                f"{where}.heads: the width {config.width} must be a multiple of the {config.heads} heads",
                field=f"{where}.heads",
            )
        return TextTransformer(text, num_outputs, config.layers, config.heads, config.width, config.ff, config.dropout)
    raise ConfigError(f"{where}.type: {kind!r} is not a text model", field=f"{where}.type")


def lstm_flops(module: nn.LSTM, steps: int) -> int:
    """Forward FLOPs of an LSTM over ``steps`` tokens: four gates, each an input and a recurrent product."""
    directions = 2 if module.bidirectional else 1
    per_step = 4 * module.hidden_size * (module.input_size + module.hidden_size) * 2
    return int(directions * module.num_layers * steps * per_step)


__all__ = ["TEXT_TYPES", "BiLstm", "EmbeddingBag", "TextCnn", "TextModel", "TextTransformer", "build_text_model"]
