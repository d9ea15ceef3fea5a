"""A text encoder read per word: the token encoder of token classification.

:class:`TokenEncoder` wraps a :class:`~transferkit.backbones.text.TextBackbone` (the
built-in ``minilm`` or any ``hf:`` encoder) and returns one feature vector per **word**
instead of one per text (no pooling): each word is tokenised into sub-tokens, and the
word's vector is the hidden state of its **first sub-token** (the rest of its sub-tokens
carry no label: Hugging Face's token-classification recipe, where they are -100 in the
loss). A sentence longer than the encoder's limit is cut into windows of ``window``
sub-tokens that start every ``stride`` sub-tokens (by default the limit minus the two
special tokens, and half of it); each word is read from the window in which its first
sub-token lies farthest from an edge, and the words come back in order as one sentence.

Inputs are lists of words, or strings, which :func:`transferkit.data.conll.split_words`
cuts into words (and character offsets) first. It is not a registered backbone family:
the token-classification task wraps the text backbone it is given (``--backbone minilm``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from transferkit.backbones.base import Backbone
from transferkit.errors import BackboneError, DataError


def _layer_mean(out: Any, n: int) -> torch.Tensor:
    """The last hidden state, or the mean of the last ``n + 1`` (multi-scale features)."""
    if not n:
        return out.last_hidden_state
    return torch.stack(out.hidden_states[-(n + 1):]).mean(0)


def plan_windows(n: int, window: int, stride: int) -> list[int]:
    """Start positions of the windows over ``n`` sub-tokens: 0, stride, 2 stride, ... until
    one reaches the end (a single window when ``n <= window``).

    >>> plan_windows(10, 4, 2)
    [0, 2, 4, 6]
    """
    starts = [0]
    while starts[-1] + window < n:
        starts.append(starts[-1] + stride)
    return starts


def best_window(pos: int, starts: list[int], window: int) -> int:
    """Index of the window holding sub-token ``pos`` farthest from its edges."""
    scores = [min(pos - s, s + window - 1 - pos) if s <= pos < s + window else -1 for s in starts]
    return max(range(len(starts)), key=lambda i: (scores[i], -i))


class _TokenBottom(nn.Module):
    """The text encoder's embeddings and first layers over a batch's windows, laid out per
    sentence so that the feature cache can store one array per sentence: ``(B, S, H + 3)``.

    Sentence ``b``'s windows that its words are read from follow one another, each ``T``
    positions long (the batch's window length); after the ``H`` hidden channels come the
    window's number within the sentence (1, 2, ...; 0 past its last window), at each word's
    first sub-token (in the window the word is read from) the word's number + 1 (0
    elsewhere), and last the attention mask (the text backbone's convention: the last
    channel of cached text activations is the mask). :class:`_TokenTop` undoes the layout."""

    def __init__(self, bottom: nn.Module) -> None:
        super().__init__()
        self.bottom = bottom

    def forward(self, inputs: dict[str, torch.Tensor]) -> torch.Tensor:
        h = self.bottom(inputs)  # (C, T, H + 1): hidden states, mask
        c, t, d = h.shape
        ww, wp, wm = inputs["word_window"], inputs["word_pos"], inputs["word_mask"]
        used = [torch.unique(ww[b][wm[b]]) for b in range(ww.shape[0])]  # sorted chunk rows
        n = max([len(u) for u in used] + [0])
        out = h.new_zeros(ww.shape[0], max(n, 1) * t, d + 2)
        for b, chunks in enumerate(used):
            if not len(chunks):
                continue
            out[b, :len(chunks) * t, :d - 1] = h[chunks, :, :-1].reshape(-1, d - 1)
            out[b, :len(chunks) * t, -1] = h[chunks, :, -1].reshape(-1)
            out[b, :len(chunks) * t, d - 1] = torch.arange(1, len(chunks) + 1).repeat_interleave(t).to(h)
            words = torch.nonzero(wm[b]).squeeze(1)
            block = torch.searchsorted(chunks, ww[b, words])  # the word's window, numbered in the sentence
            out[b, block * t + wp[b, words], d] = (words + 1).to(h)
        return out


class _TokenTop(nn.Module):
    """The text encoder's last layers on :class:`_TokenBottom`'s layout -> ``(B, W, H)``
    first-sub-token word features, the same as :meth:`TokenEncoder.forward`."""

    def __init__(self, text: Any, top: nn.Module) -> None:
        super().__init__()
        self.layers = top.layers
        object.__setattr__(self, "_text", text)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, S, H + 3) -> (B, W, H)
        from transferkit.backbones.text import run_layers

        h, win, word, mask = x[..., :-3], x[..., -3], x[..., -2], x[..., -1]
        dim = h.shape[-1]
        widths = [int((win[b] == 1).sum()) for b in range(x.shape[0])]  # each sentence's T
        blocks, masks, where = [], [], []  # windows, their masks, (sentence, first window row, T)
        for b, t in enumerate(widths):
            k = int(win[b].max()) if t else 0
            if k:
                where.append((b, len(blocks), t))
                blocks.extend(h[b, :k * t].reshape(k, t, dim))
                masks.extend(mask[b, :k * t].reshape(k, t))
        n_words = int(word.max()) if x.numel() else 0
        feats = x.new_zeros(x.shape[0], n_words, dim)
        if not blocks:
            return feats
        real = max(1, max(int(m.sum()) for m in masks))  # padding is on the right: cut it
        hs = torch.stack([nn.functional.pad(b[:real], (0, 0, 0, real - min(real, len(b)))) for b in blocks])
        ms = torch.stack([nn.functional.pad(m[:real], (0, real - min(real, len(m)))) for m in masks])
        hs = run_layers(self.layers, hs, self._text.extended_mask(ms, hs.dtype), self._text.pool_stages)
        rows_b, rows_w, rows_c, rows_p = [], [], [], []
        for b, first, t in where:
            pos = torch.nonzero(word[b] > 0).squeeze(1)
            rows_b.append(torch.full_like(pos, b))
            rows_w.append(word[b, pos].long() - 1)
            rows_c.append(first + torch.div(pos, t, rounding_mode="floor"))
            rows_p.append(pos % t)
        b_i, w_i, c_i, p_i = (torch.cat(r) for r in (rows_b, rows_w, rows_c, rows_p))
        feats[b_i, w_i] = hs[c_i, p_i]
        return feats


class TokenEncoder(Backbone):
    """Words -> ``(B, W, H)`` first-sub-token features of a text encoder (see the module)."""

    modality = "text"
    vector_features = False  # (B, W, H): the word axis differs from batch to batch

    def __init__(self, text: Any, window: int | None = None, stride: int | None = None) -> None:
        super().__init__()
        if not hasattr(text, "tokenizer") or not hasattr(text, "encoder"):
            raise BackboneError(f"Token classification needs a text encoder (minilm, or hf:<name or "
                                f"folder>); the backbone {getattr(text, 'name', type(text).__name__)!r} "
                                "is not one. Pass --backbone minilm.")
        if not getattr(text.tokenizer, "is_fast", False):
            raise BackboneError(f"The tokenizer of {text.name!r} is not a fast tokenizer, which token "
                                "classification needs to map sub-tokens to words. Use a model folder with "
                                "a tokenizer.json.")
        # the encoder is this module's own child, so the weights are saved under the same keys as
        # the text backbone's ("encoder.*"): a token run's backbone loads as a text backbone
        # (--backbone RUN_DIR), and the wrapper adds no parameters
        object.__setattr__(self, "text", text)
        self.encoder = text.encoder
        self.family, self.name = text.family, text.name
        self.feature_dim = text.feature_dim
        limit = int(text.max_length) - 2  # [CLS] and [SEP]
        self.window = int(window or limit)
        self.stride = int(stride or max(1, self.window // 2))
        if not 1 <= self.stride <= self.window <= limit:
            raise BackboneError(f"Token windows need 1 <= stride <= window <= {limit}; got window "
                                f"{self.window}, stride {self.stride}.")

    # ------------------------------------------------------------------ delegated
    @property
    def pool_stages(self) -> int:  # type: ignore[override]
        return int(self.text.pool_stages)

    @pool_stages.setter
    def pool_stages(self, n: int) -> None:
        pass  # the wrapped encoder holds it (Backbone's class attribute is only a default)

    def max_pool_stages(self) -> int:
        return self.text.max_pool_stages()

    def set_pool_stages(self, n: int) -> None:
        self.text.set_pool_stages(n)

    def blocks(self) -> list[nn.Module]:
        return self.text.blocks()

    def layers(self) -> list[nn.Module]:
        return self.text.layers()

    def save_assets(self, run_dir: Path) -> dict[str, Any]:
        return self.text.save_assets(run_dir)

    def split_at(self, k: int) -> tuple[nn.Module, nn.Module]:
        """``(bottom, top)``: the encoder below its last ``k`` layers, whose per-sentence
        activations the feature cache stores (:class:`_TokenBottom`), and those ``k``
        layers read per word (:class:`_TokenTop`); ``top(bottom(x)) == self(x)``. Lets
        ``--strategy partial`` train the top layers on cached activations."""
        bottom, top = self.text.split_at(k)
        return _TokenBottom(bottom), _TokenTop(self.text, top)

    def describe(self) -> dict[str, Any]:
        return {**self.text.describe(), "per_token": {"window": self.window, "stride": self.stride,
                                                      "word_vector": "first sub-token"}}

    # ------------------------------------------------------------------ the contract
    def _words(self, item: Any) -> list[str]:
        from transferkit.data.conll import split_words

        if isinstance(item, str):
            return [w for w, _, _ in split_words(item)]
        if isinstance(item, (list, tuple)) and all(isinstance(w, str) for w in item):
            return list(item)
        raise DataError(f"A token-classification input is a text or a list of words; got "
                        f"{type(item).__name__}.")

    def collate(self, items: list[Any]) -> dict[str, torch.Tensor]:
        """Tokenise sentences of words into windows: ``input_ids``/``attention_mask``
        ``(C, T)`` over all windows, and per word ``word_window``, ``word_pos`` and
        ``word_mask`` ``(B, W)``."""
        tok = self.text.tokenizer
        sentences = [self._words(it) for it in items]
        if not sentences:
            raise DataError("Cannot collate an empty list of sentences.")
        unk = tok.unk_token_id if tok.unk_token_id is not None else 0
        chunks: list[list[int]] = []
        width = max(1, max(len(s) for s in sentences))
        word_window = torch.zeros(len(sentences), width, dtype=torch.long)
        word_pos = torch.zeros(len(sentences), width, dtype=torch.long)
        word_mask = torch.zeros(len(sentences), width, dtype=torch.bool)
        for b, words in enumerate(sentences):
            ids: list[int] = []
            first: list[int] = []
            if words:
                enc = tok(words, is_split_into_words=True, add_special_tokens=False)
                word_ids = enc.word_ids()
                per_word: list[list[int]] = [[] for _ in words]
                for t, w in zip(enc["input_ids"], word_ids, strict=True):
                    if w is not None:
                        per_word[w].append(t)
                for pieces in per_word:  # a word the tokenizer drops (control chars) reads as [UNK]
                    first.append(len(ids))
                    ids.extend(pieces or [unk])
            starts = plan_windows(len(ids), self.window, self.stride)
            base = len(chunks)
            for s in starts:
                chunks.append([tok.cls_token_id, *ids[s:s + self.window], tok.sep_token_id])
            for w, pos in enumerate(first):
                k = best_window(pos, starts, self.window)
                word_window[b, w] = base + k
                word_pos[b, w] = pos - starts[k] + 1  # +1: [CLS]
                word_mask[b, w] = True
        length = max(len(c) for c in chunks)
        input_ids = torch.full((len(chunks), length), tok.pad_token_id or 0, dtype=torch.long)
        attention = torch.zeros((len(chunks), length), dtype=torch.long)
        for i, c in enumerate(chunks):
            input_ids[i, :len(c)] = torch.tensor(c)
            attention[i, :len(c)] = 1
        return {"input_ids": input_ids, "attention_mask": attention,
                "token_type_ids": torch.zeros_like(input_ids), "word_window": word_window,
                "word_pos": word_pos, "word_mask": word_mask}

    def forward(self, inputs: dict[str, torch.Tensor]) -> torch.Tensor:  # (B, W, H)
        keys = ("input_ids", "attention_mask", "token_type_ids")
        n = self.pool_stages
        out = self.encoder(**{k: inputs[k] for k in keys if k in inputs}, output_hidden_states=bool(n))
        hidden = _layer_mean(out, n)  # (C, T, H)
        words = hidden[inputs["word_window"], inputs["word_pos"]]  # (B, W, H)
        return words * inputs["word_mask"].unsqueeze(-1).to(words.dtype)


__all__ = ["TokenEncoder", "best_window", "plan_windows"]
