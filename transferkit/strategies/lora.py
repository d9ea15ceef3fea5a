"""LoRA: low-rank adapters on the backbone's linear layers, through peft.

Hu et al. 2021, "LoRA: Low-Rank Adaptation of Large Language Models"
(https://arxiv.org/abs/2106.09685): a frozen weight ``W (out, in)`` becomes
``W + (alpha / r) * B @ A`` with ``A (r, in)``, ``B (out, r)``, ``B = 0`` at the start;
only ``A``, ``B`` and the new head train. Each adapted layer adds ``r * (in + out)``
parameters (a 1x1 convolution counts as a linear layer). After training the adapters are
merged (``merge_and_unload``), so the saved model is the plain architecture.

Target modules by architecture: for Hugging Face transformers, the attention query and
value projections (``query``/``value``, ``q_lin``/``v_lin``, ``q_proj``/``v_proj``,
``q``/``v``, ``c_attn``, ``qkv``); otherwise (timm and transferkit's own backbones) every
``nn.Linear`` and 1x1 ``nn.Conv2d`` inside the backbone's blocks.
"""

from __future__ import annotations

import contextlib
import re
from dataclasses import dataclass

from torch import nn

from transferkit.config import Options, TrainConfig, option
from transferkit.errors import BackboneError, ConfigError
from transferkit.strategies import STRATEGIES
from transferkit.strategies.base import Stage, Strategy, group, head_parameters

# Attention projections of transformers architectures, tried in order (the LoRA paper
# adapts W_q and W_v).
ATTENTION_TARGETS: tuple[tuple[str, ...], ...] = (
    ("query", "value"),  # BERT, RoBERTa, MiniLM, ELECTRA
    ("q_lin", "v_lin"),  # DistilBERT
    ("q_proj", "v_proj"),  # BART, Llama, OPT, CLIP
    ("q", "v"),  # T5, MPNet
    ("c_attn",),  # GPT-2
    ("qkv",),  # ViT (timm), some encoders
    ("query_key_value",),  # GPT-NeoX, Falcon
)


@dataclass
class LoraConfig(Options):
    """Parameters of LoRA (see peft.LoraConfig)."""

    r: int = option(8, "Rank of the adapters.", ge=1)
    alpha: float = option(16.0, "Scaling numerator: the update is (alpha / r) * B @ A.", gt=0)
    dropout: float = option(0.0, "Dropout on the adapters' input.", ge=0, lt=1)
    target_modules: list[str] | None = option(None, "Module names (or name suffixes) to adapt; "
                                              "None chooses per architecture.")
    adapter_lr_ratio: float = option(1.0, "Learning rate of the adapters as a fraction of "
                                     "train.lr.", gt=0, le=100)

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.target_modules is not None and not self.target_modules:
            raise ConfigError("The 'target_modules' parameter of the lora strategy must name at "
                              "least one module, or be null to choose per architecture.")


def _is_transformers(module: nn.Module) -> bool:
    try:
        from transformers import PreTrainedModel
    except ImportError:
        return False
    return any(isinstance(m, PreTrainedModel) for m in module.modules())


def _adaptable(module: nn.Module) -> bool:
    if isinstance(module, nn.Linear):
        return True
    if isinstance(module, nn.Conv2d):
        return module.kernel_size == (1, 1) and module.groups == 1
    return type(module).__name__ == "Conv1D"  # transformers' GPT-2 projection


def target_modules(backbone: nn.Module) -> list[str]:
    """Names (relative to ``backbone``) of the modules LoRA adapts, chosen per architecture."""
    names = {name: m for name, m in backbone.named_modules() if name and _adaptable(m)}
    if _is_transformers(backbone):
        for wanted in ATTENTION_TARGETS:
            hits = sorted(n for n in names if n.rsplit(".", 1)[-1] in wanted)
            if hits:
                return hits
    blocks: list[nn.Module] = []
    with contextlib.suppress(AttributeError, BackboneError):
        blocks = list(backbone.blocks())  # type: ignore[operator]
    scope = {id(m) for b in blocks for m in b.modules()} if blocks else None
    hits = [n for n, m in names.items() if scope is None or id(m) in scope]
    if not hits:
        raise ConfigError(
            f"LoRA found no nn.Linear or 1x1 nn.Conv2d layer to adapt in {type(backbone).__name__}. "
            "Pass strategy_params.target_modules with module names, or use --strategy bitfit/partial."
        )
    return hits


@STRATEGIES.register("lora", config=LoraConfig,
                     help="Low-rank adapters (peft) on attention/linear layers + head; merged after.")
class LoraStrategy(Strategy):
    """Inject LoRA adapters into ``model.backbone`` (peft); adapters + head train."""

    name = "lora"

    def __init__(self, config: LoraConfig | None = None) -> None:
        super().__init__(config if config is not None else LoraConfig())
        self.tuner_ = None
        self.targets_: list[str] = []

    def stages(self, model: nn.Module, train: TrainConfig) -> list[Stage]:
        try:
            import peft
            from peft.tuners.lora import LoraModel
        except ImportError:
            raise ConfigError("The lora strategy needs peft: pip install 'transferkit[peft]'.") from None
        cfg = self.config
        backbone = model.backbone  # type: ignore[union-attr]
        if self.tuner_ is None:
            self.targets_ = list(cfg.target_modules) if cfg.target_modules else target_modules(backbone)
            # Auto-chosen names are full paths: a full-match regex adapts exactly those
            # (a list would also match every module whose name ends with one of them).
            targets = self.targets_ if cfg.target_modules else "|".join(map(re.escape, self.targets_))
            lora_cfg = peft.LoraConfig(r=cfg.r, lora_alpha=cfg.alpha, lora_dropout=cfg.dropout,
                                       target_modules=targets, bias="none")
            try:
                # Injects the adapters into ``backbone`` in place; the tuner keeps a handle.
                self.tuner_ = LoraModel(backbone, lora_cfg, "default")
            except ValueError as exc:
                raise ConfigError(f"LoRA could not adapt target_modules={self.targets_}: {exc}") from None
        adapters = [p for n, p in backbone.named_parameters() if "lora_" in n]
        groups = [group("lora", adapters, train.lr * cfg.adapter_lr_ratio),
                  group("head", head_parameters(model), train.lr)]
        return self._first(model, [Stage("lora", groups, trainable_blocks=None,
                                         info={"target_modules": self.targets_})])

    def finalize(self, model: nn.Module) -> nn.Module:
        """Merge the adapters into the weights: the model is the plain architecture again."""
        if self.tuner_ is not None:
            self.tuner_.merge_and_unload()
            backbone = model.backbone  # type: ignore[union-attr]
            if "peft_config" in vars(backbone):
                del backbone.peft_config
            self.tuner_ = None
        return model
