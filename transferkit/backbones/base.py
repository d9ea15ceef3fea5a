"""The backbone contract: raw inputs in, feature vectors out.

A backbone is an ``nn.Module`` that also knows how to turn a list of raw dataset items
into model inputs (``collate``), the size of its features, how its blocks are ordered
(for strategies that unfreeze by depth), and a JSON description of its preprocessing
that a run directory stores so that ``predict`` rebuilds the exact same pipeline.
"""

from __future__ import annotations

import hashlib
import importlib.util
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
from torch import nn


class BackboneFamily:
    """What :func:`~transferkit.backbones.create_backbone` asks a registered family.

    A family says which backbone names it reads, so that adding one is one file:

    - ``prefixes``: ``"timm:"`` starts a name (``timm:resnet18`` -> ``from_spec("resnet18")``);
      a prefix without a colon is a whole name for the family's default (``tabular`` ->
      ``from_spec("")``);
    - ``builtins``: the offline models whose weights ship in pip packages, name -> info
      (``modality``, ``feature_dim``, ``params``, ``package``, ``module``, ``help``);
    - ``folder_files``: a file that marks a local folder as the family's -> what such a
      folder is (``{"config.json": "a Hugging Face model folder"}``);
    - ``usage``: the forms a user types, for error messages and ``transferkit list``;
    - ``has_pretrained_weights``: False for families that always start from random init.
    """

    prefixes: ClassVar[tuple[str, ...]] = ()
    #: whether the family's backbones start from learned weights; False (tabular, sequence
    #: encoders): they start from random init, so a frozen-backbone probe learns on random
    #: features and a fit without a named strategy trains them end to end
    has_pretrained_weights: ClassVar[bool] = True
    #: the package the family's backbones need beyond transferkit's own (None: nothing more)
    requires: ClassVar[str | None] = None
    #: False for families whose features are a fixed function, learned from no other data
    #: (``lags``, MiniRocket's random convolutions): a fit with them transferred nothing, and
    #: the results table says so (``pipeline.build.model_label``)
    transfers_weights: ClassVar[bool] = True
    #: the family's end-to-end training recipe for a few labelled examples (a ``--shots`` fit
    #: whose strategy trains the backbone), as dotted config keys -> values, each applied only
    #: where the user set that key by none of flag, keyword, config file or ``--set``
    #: (``transferkit.jobs.fit.with_few_shot_recipe``); {} keeps fit's defaults
    few_shot_recipe: ClassVar[dict[str, Any]] = {}
    builtins: ClassVar[dict[str, dict[str, Any]]] = {}
    folder_files: ClassVar[dict[str, str]] = {}
    usage: ClassVar[tuple[str, ...]] = ()

    @classmethod
    def read_spec(cls, spec: str) -> str | None:
        """The ``from_spec`` argument when this family reads the name ``spec``, else None."""
        low = spec.lower()
        for prefix in cls.prefixes:
            if prefix.endswith(":") and low.startswith(prefix):
                return spec[len(prefix):]
            if low == prefix:
                return ""
        key = low.replace("-", "_")
        return key if key in cls.builtins else None

    @classmethod
    def starts_pretrained(cls, rest: str) -> bool:
        """Whether the backbone this family builds from ``rest`` (what ``read_spec`` returned)
        starts from learned weights; a composite family asks its parts."""
        return cls.has_pretrained_weights

    @classmethod
    def is_installed(cls, rest: str) -> bool:
        """Whether the package this family's backbone built from ``rest`` needs is installed
        (``requires``); a composite family asks its parts."""
        return cls.requires is None or importlib.util.find_spec(cls.requires) is not None

    @classmethod
    def reads_name(cls, spec: str) -> bool:
        """True when this family builds the bare name ``spec`` (timm: any timm model name)."""
        return False

    @classmethod
    def suggest(cls, spec: str) -> str:
        """A did-you-mean for a name nobody reads, from the family's own catalogue, or ``""``."""
        return ""


class Backbone(BackboneFamily, nn.Module):
    """Base class of every backbone family.

    Subclasses set ``family``, ``name``, ``modality`` and ``feature_dim`` and implement
    ``collate``, ``forward`` and ``blocks``.
    """

    family: str = ""
    name: str = ""
    modality: str = ""
    feature_dim: int = 0
    #: one ``feature_dim`` vector per example (cached features are then written row by row as
    #: they come); False for backbones whose outputs have a ragged axis (one vector per word)
    vector_features: bool = True
    #: the convex linear probe that suits these features (``linear-probe``'s solver 'auto'):
    #: "lbfgs" (multinomial logistic regression) or "ridge" (standardised ridge classifier)
    probe_solver: str = "lbfgs"
    #: examples per batch when features are extracted on the CPU (elsewhere: this default)
    extract_batch_size: int = 64
    #: multi-scale features used by default where nothing below the head trains (0: none)
    default_pool_stages: int = 0
    pool_stages: int = 0

    def max_pool_stages(self) -> int:
        """How many intermediate stages ``set_pool_stages`` can pool (0: not supported)."""
        return 0

    def set_pool_stages(self, n: int) -> None:
        """Multi-scale features: combine the final features with the pooled outputs of the
        ``n`` stages (layers) below them; ``feature_dim`` follows. 0 turns it off."""
        self.check_pool_stages(n)

    def check_pool_stages(self, n: int) -> None:
        """Raise BackboneError unless ``0 <= n <= max_pool_stages()``."""
        from transferkit.errors import BackboneError

        if isinstance(n, bool) or not isinstance(n, int) or n < 0:
            raise BackboneError(f"The 'pool_stages' parameter must be an int >= 0. Got {n!r} instead.")
        limit = self.max_pool_stages()
        if n and not limit:
            raise BackboneError(f"The {self.name or type(self).__name__} backbone has no known stages to "
                                "pool; set backbone.pool_stages=0.")
        if n > limit:
            raise BackboneError(f"The 'pool_stages' parameter must be <= {limit} for {self.name} (the "
                                f"stages or layers below its final features). Got {n} instead.")

    def forecast_columns(self) -> np.ndarray | None:
        """The feature columns that hold the backbone's own forecast of its input: an int array
        ``(C, S)`` whose entry ``[c, s]`` is the column of input channel ``c``'s value ``s + 1``
        steps after the input's last step, **in that channel's units as the backbone received
        them**; None (the default) when the features hold no forecast. The forecasting probe
        shrinks its ridge towards this forecast (the "pretrained forecast" prior of
        :mod:`transferkit.tasks._forecast_ridge`). A composite backbone passes its part's
        columns on, offset to where they sit in its features."""
        return None

    def context_columns(self) -> np.ndarray | None:
        """The feature columns that hold the input's own last values: an int array ``(C, L)``
        whose entry ``[c, s]`` is the column of input channel ``c``'s value at step ``s`` of
        its last L steps (oldest first), in that channel's units as the backbone received
        them; None (the default) when the features do not hold them. The forecasting probe
        builds its "seasonal mean" priors from them (:mod:`transferkit.tasks._forecast_ridge`)."""
        return None

    def collate(self, items: list[Any]) -> Any:
        """Raw dataset items -> model inputs (a tensor, or a dict of tensors)."""
        raise NotImplementedError

    def forward(self, inputs: Any) -> torch.Tensor:  # (B, feature_dim)
        raise NotImplementedError

    def blocks(self) -> list[nn.Module]:
        """The trainable blocks, ordered from input to output."""
        from transferkit.errors import BackboneError

        raise BackboneError(f"The {type(self).__name__} backbone does not list its blocks, so "
                            "strategies that train by depth (partial, gradual) cannot use it. "
                            "Use --strategy full, lora or linear-probe.")

    def adapt_to(self, data: Any) -> None:
        """Fit data-dependent preprocessing (e.g. a table's standardisation) on training
        data. Image and text backbones need none; the stats must live in buffers so that
        they are saved with the weights."""

    def split_at(self, k: int) -> tuple[nn.Module, nn.Module]:
        """``(bottom, top)`` with ``top(bottom(inputs)) == self(inputs)`` where ``top``
        holds the last ``k`` blocks (and pooling). Lets strategies that train only the top
        blocks run on cached ``bottom`` activations."""
        from transferkit.errors import BackboneError

        raise BackboneError(f"The {type(self).__name__} backbone cannot be split by blocks, so "
                            "strategies that train only its top blocks (partial) cannot use it. "
                            "Use --strategy full, lora or linear-probe.")

    def advice(self, data: Any) -> str | None:
        """A one-line tip for fitting this backbone on ``data`` (the training split), which
        ``fit`` prints under its backbone line; None when there is nothing to say."""
        return None

    def input_recipe(self) -> list[str] | None:
        """How raw inputs become the exported model's input tensor, step by step, exactly
        enough to re-implement outside transferkit (export writes it to preprocessing.json);
        None where the tokenizer or the tensor layout says it all."""
        return None

    def describe(self) -> dict[str, Any]:
        """JSON-ready spec: family, name, feature_dim and preprocessing.

        ``transferkit.backbones.from_description(desc)`` rebuilds the architecture
        (weights are loaded separately from the run's safetensors file).
        """
        return {"family": self.family, "name": self.name, "modality": self.modality,
                "feature_dim": self.feature_dim}

    def save_assets(self, run_dir: Path) -> dict[str, Any]:
        """Write the files besides the weights that rebuilding this backbone needs (a text
        model's tokenizer) into ``run_dir``; returns entries for its description, with paths
        relative to ``run_dir``. Most backbones need none."""
        return {}

    def fingerprint(self) -> str:
        """Hash of the weights and the preprocessing: the feature cache's model key."""
        h = hashlib.sha256(repr(sorted(self.describe().items())).encode())
        for key, tensor in sorted(self.state_dict().items()):
            h.update(key.encode())
            t = tensor.detach().cpu().contiguous().reshape(-1)
            h.update(t.view(torch.uint8).numpy().tobytes() if t.numel() else b"")
        return h.hexdigest()[:24]
