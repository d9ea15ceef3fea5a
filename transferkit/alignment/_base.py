"""What every alignment loss shares: the config base, input checks, gradient reversal,
the DANN warm-up schedule and the domain discriminator used by ``dann`` and ``cdan``."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, ClassVar

import torch
from torch import nn

from transferkit.errors import ConfigError
from transferkit.options import Options, option, resolve_config


@dataclass
class AlignmentConfig(Options):
    """Options every alignment loss has."""

    weight: float = option(1.0, "Trade-off lambda: the loss returned is weight * L_align, added "
                           "to the classification loss.", ge=0)


def grl_coefficient(progress: float, max_lambda: float = 1.0, alpha: float = 10.0) -> float:
    """DANN's warm-up of the reversal coefficient (Ganin et al. 2016, eq. 14).

    ``lambda(p) = max_lambda * (2 / (1 + exp(-alpha * p)) - 1)``, with ``p`` in [0, 1]
    the training progress: 0 at the start (the discriminator learns first), close to
    ``max_lambda`` at the end.
    """
    return float(max_lambda * (2.0 / (1.0 + math.exp(-alpha * progress)) - 1.0))


class _ReverseGrad(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, coeff: float) -> torch.Tensor:
        ctx.coeff = coeff
        return x.view_as(x)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor, None]:
        return -ctx.coeff * grad, None


def reverse_gradient(x: torch.Tensor, coeff: float = 1.0) -> torch.Tensor:
    """Gradient reversal layer (Ganin & Lempitsky 2015, https://arxiv.org/abs/1409.7495).

    Identity in the forward pass; multiplies the gradient by ``-coeff`` in the backward
    pass. Any shape.
    """
    return _ReverseGrad.apply(x, float(coeff))


class GradientReversal(nn.Module):
    """Module form of :func:`reverse_gradient`; ``coeff`` may be changed between steps."""

    def __init__(self, coeff: float = 1.0) -> None:
        super().__init__()
        self.coeff = float(coeff)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return reverse_gradient(x, self.coeff)

    def extra_repr(self) -> str:
        return f"coeff={self.coeff}"


class DomainDiscriminator(nn.Module):
    """MLP ``in_dim -> hidden -> ... -> 1`` returning a domain logit per row (source = 1).

    As in DANN's experiments (Ganin et al. 2016, sec. 5.2): fully connected layers with
    ReLU and dropout. Shapes: ``(B, in_dim) -> (B,)``.
    """

    def __init__(self, in_dim: int, hidden_dim: int = 1024, num_layers: int = 2,
                 dropout: float = 0.5) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        width = in_dim
        for _ in range(num_layers):
            layers += [nn.Linear(width, hidden_dim), nn.ReLU(inplace=True)]
            if dropout > 0:
                layers.append(nn.Dropout(dropout))
            width = hidden_dim
        layers.append(nn.Linear(width, 1))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, in_dim) -> (B,)
        return self.net(x).squeeze(-1)


def domain_adversarial_loss(d_s: torch.Tensor, d_t: torch.Tensor, w_s: torch.Tensor | None = None,
                            w_t: torch.Tensor | None = None) -> torch.Tensor:
    """Binary cross-entropy of the discriminator, source labelled 1 and target 0.

    ``L = 1/2 [sum_i w_i (-log D(x_i^s)) / sum_i w_i + sum_j w_j (-log(1 - D(x_j^t))) / sum_j w_j]``;
    each domain counts half whatever the batch sizes. Unweighted when ``w`` is None.
    Shapes: ``d_s (B_s,)``, ``d_t (B_t,)`` logits; weights of the same shapes.
    """
    loss_s = nn.functional.softplus(-d_s)  # -log sigmoid(d)
    loss_t = nn.functional.softplus(d_t)  # -log (1 - sigmoid(d))
    mean_s = loss_s.mean() if w_s is None else (w_s * loss_s).sum() / w_s.sum()
    mean_t = loss_t.mean() if w_t is None else (w_t * loss_t).sum() / w_t.sum()
    return 0.5 * (mean_s + mean_t)


class AlignmentLoss(nn.Module):
    """Base class: checks inputs, applies the trade-off weight, holds the progress.

    Subclasses set ``name``, ``config_class`` and ``needs_logits`` and implement
    :meth:`loss`, the paper's loss without the trade-off weight.
    """

    name: ClassVar[str] = ""
    config_class: ClassVar[type] = AlignmentConfig
    needs_logits: ClassVar[bool] = False

    def __init__(self, feature_dim: int, num_classes: int, config: Any = None, **params: Any) -> None:
        super().__init__()
        # only the losses that read class logits need classes (regression has none: 0)
        for pname, value, low in (("feature_dim", feature_dim, 1),
                                  ("num_classes", num_classes, 2 if self.needs_logits else 0)):
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise ConfigError(f"The '{pname}' parameter of the '{self.name}' alignment loss must "
                                  f"be an int >= {low}. Got {value!r} instead.")
        self.feature_dim = feature_dim
        self.num_classes = num_classes
        self.config = resolve_config(self.config_class, config, params, self.name)
        self.progress = 0.0

    @property
    def weight(self) -> float:
        """The trade-off lambda this loss is multiplied by."""
        return float(self.config.weight)

    def set_progress(self, p: float) -> None:
        """Tell the loss how far training is, ``p`` in [0, 1] (steps done / total steps)."""
        p = float(p)
        if not (0.0 <= p <= 1.0):
            raise ConfigError(f"The training progress passed to set_progress must be in [0, 1] "
                              f"(steps done / total steps). Got {p} instead.")
        self.progress = p

    def _check(self, f_s: torch.Tensor, f_t: torch.Tensor, logits_s: torch.Tensor | None,
               logits_t: torch.Tensor | None) -> None:
        for tname, f in (("f_s", f_s), ("f_t", f_t)):
            if not isinstance(f, torch.Tensor) or f.ndim != 2 or f.shape[1] != self.feature_dim:
                shape = tuple(f.shape) if isinstance(f, torch.Tensor) else type(f).__name__
                raise ConfigError(f"The '{self.name}' alignment loss expects {tname} of shape "
                                  f"(batch, {self.feature_dim}). Got {shape} instead.")
            if f.shape[0] < 1:
                raise ConfigError(f"The '{self.name}' alignment loss got an empty batch for {tname}.")
        if not self.needs_logits:
            return
        for lname, logits, f in (("logits_s", logits_s, f_s), ("logits_t", logits_t, f_t)):
            if logits is None:
                raise ConfigError(f"The '{self.name}' alignment loss needs the classifier's logits "
                                  f"(needs_logits=True): pass logits_s and logits_t. Got "
                                  f"{lname}=None.")
            if logits.ndim != 2 or logits.shape != (f.shape[0], self.num_classes):
                raise ConfigError(f"The '{self.name}' alignment loss expects {lname} of shape "
                                  f"({f.shape[0]}, {self.num_classes}). Got {tuple(logits.shape)} "
                                  "instead.")

    def loss(self, f_s: torch.Tensor, f_t: torch.Tensor, logits_s: torch.Tensor | None = None,
             logits_t: torch.Tensor | None = None) -> torch.Tensor:
        """The paper's loss, without the trade-off weight."""
        raise NotImplementedError

    def forward(self, f_s: torch.Tensor, f_t: torch.Tensor, logits_s: torch.Tensor | None = None,
                logits_t: torch.Tensor | None = None) -> torch.Tensor:
        """``weight * loss(...)``: ``f_s (B_s, D)``, ``f_t (B_t, D)``, logits ``(B, K)`` -> scalar."""
        self._check(f_s, f_t, logits_s, logits_t)
        return self.config.weight * self.loss(f_s, f_t, logits_s, logits_t)


@dataclass
class AdversarialConfig(AlignmentConfig):
    """Options of the adversarial losses (discriminator and reversal schedule)."""

    max_lambda: float = option(1.0, "Largest gradient-reversal coefficient, reached at the end "
                               "of the warm-up.", ge=0)
    alpha: float = option(10.0, "Steepness of the warm-up lambda(p) = max_lambda * "
                          "(2 / (1 + exp(-alpha p)) - 1).", gt=0)
    schedule: str = option("warmup", "Reversal coefficient over training: 'warmup' (DANN's "
                           "schedule, needs set_progress) or 'constant' (max_lambda throughout).",
                           choices=("warmup", "constant"))
    hidden_dim: int = option(1024, "Width of the domain discriminator's hidden layers.", ge=1)
    num_layers: int = option(2, "Hidden layers of the domain discriminator.", ge=1)
    dropout: float = option(0.5, "Dropout after each hidden layer of the discriminator.", ge=0, lt=1)


class AdversarialLoss(AlignmentLoss):
    """Shared by DANN and CDAN: the reversal coefficient follows the warm-up schedule."""

    config_class: ClassVar[type] = AdversarialConfig

    @property
    def coefficient(self) -> float:
        """The gradient-reversal coefficient lambda(p) at the current progress."""
        cfg = self.config
        if cfg.schedule == "constant":
            return float(cfg.max_lambda)
        return grl_coefficient(self.progress, cfg.max_lambda, cfg.alpha)
