"""Linear probe: the backbone stays frozen; only the mapping and the head train.

Kornblith et al. 2019, "Do Better ImageNet Models Transfer Better?"
(https://arxiv.org/abs/1805.08974): logistic regression on frozen penultimate features.
Because nothing in the backbone trains, the pipeline trains on cached features in seconds.

The head is solved by default (``solver="auto"``, :mod:`transferkit.train.convex`):
multinomial logistic regression to convergence, its L2 strength chosen on the validation
split (k-fold CV on the training labels without one), written into the ``nn.Linear`` head --
or, for backbones whose features call for it (``Backbone.probe_solver``, MiniRocket), a
ridge classifier on standardised features with leave-one-out alpha.
Measured with the defaults, 3 seeds, test accuracy (issue 21,
``benchmarks/checks/probe_solver.py``): Fashion-MNIST 10/class 74.8 +- 2.3 % (SGD head
74.7 +- 2.3 %, before the early-stopping fix 73.4 %), fine-foods 8/class 64.3 +- 1.9 % (SGD
64.0 +- 1.1 %, before 49.4 +- 11.0 %): equally accurate, without a learning rate, warmup or
patience to tune, and a head stage several times shorter (rough, busy 2-core machine:
2 s vs 7 s, 0.1 s vs 5-18 s). ``solver="sgd"`` (and any mapping
with parameters) trains the head with the training loop for at least ``min_steps`` steps.
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn

from transferkit.config import Options, TrainConfig, option
from transferkit.strategies import STRATEGIES
from transferkit.strategies.base import Stage, Strategy, group, head_parameters


@dataclass
class LinearProbeConfig(Options):
    """Parameters of the linear probe (lr and epochs: see train.*)."""

    solver: str = option("auto", "How the head is fitted on the cached features: 'auto' uses the "
                         "probe the backbone's features call for (MiniRocket: 'ridge'; every other "
                         "backbone: 'lbfgs'); 'lbfgs' solves the multinomial logistic regression to "
                         "convergence with its L2 strength chosen on the validation split (by "
                         "cross-validation on the training labels without one); 'ridge' fits "
                         "scikit-learn's RidgeClassifierCV on per-feature standardised features, alpha by "
                         "leave-one-out on the training labels (classification; other tasks use their "
                         "own solver); both need the identity mapping (other mappings train by SGD); "
                         "'sgd' trains the head with the training loop (train.* settings, min_steps, "
                         "early stopping).", choices=("auto", "lbfgs", "ridge", "sgd"))
    min_steps: int = option(500, "Train the head for at least this many optimizer steps: on "
                            "cached features they cost milliseconds, and a few-shot set gives only "
                            "a handful of steps per epoch (10 epochs of 100 examples under-train "
                            "it). Early stopping does not end it sooner (solver=sgd only).", ge=0)


@STRATEGIES.register("linear-probe", config=LinearProbeConfig, aliases=("linear", "probe"),
                     help="Frozen backbone; the head trains on cached features (seconds).")
class LinearProbeStrategy(Strategy):
    """Frozen backbone, trainable mapping + head, one stage on cached features."""

    name = "linear-probe"
    frozen_backbone = True

    def stages(self, model: nn.Module, train: TrainConfig) -> list[Stage]:
        cfg = self.config if self.config is not None else LinearProbeConfig()
        info = {"min_steps": cfg.min_steps, "convex_head": cfg.solver != "sgd", "solver": cfg.solver}
        return self._first(model, [Stage("head", [group("head", head_parameters(model), train.lr)],
                                         trainable_blocks=0, info=info)])
