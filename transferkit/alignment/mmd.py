"""Multi-kernel maximum mean discrepancy, as in Deep Adaptation Networks (DAN)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch

from transferkit.alignment import ALIGNMENTS
from transferkit.alignment._base import AlignmentConfig, AlignmentLoss
from transferkit.errors import ConfigError
from transferkit.options import option


@dataclass
class MMDConfig(AlignmentConfig):
    """Kernel family and estimator of MK-MMD."""

    kernel_multipliers: list[float] = option(
        factory=lambda: [0.125, 0.25, 0.5, 1.0, 2.0],
        help="Gaussian kernels sigma_m^2 = multiplier * base bandwidth (DAN uses 2^-3 ... 2^1).",
        gt=0)
    bandwidth: float | None = option(None, "Base bandwidth sigma_0^2; None: the mean squared "
                                     "distance between all features of the batch (detached).", gt=0)
    estimator: str = option("biased", "'biased' (V-statistic, includes i = j terms, >= 0) or "
                            "'unbiased' (U-statistic, excludes them; may be < 0).",
                            choices=("biased", "unbiased"))

    def __post_init__(self) -> None:
        super().__post_init__()
        if not self.kernel_multipliers:
            raise ConfigError("The 'kernel_multipliers' parameter of mmd must list at least one "
                              "number > 0, e.g. [0.125, 0.25, 0.5, 1, 2]. Got [] instead.")


@ALIGNMENTS.register("mmd", config=MMDConfig, aliases=("mk-mmd", "dan"))
class MMDLoss(AlignmentLoss):
    """Multi-kernel MMD (Long et al., ICML 2015, DAN, https://arxiv.org/abs/1502.02791).

    ``L = MMD^2 = E[k(s,s')] + E[k(t,t')] - 2 E[k(s,t)]`` with the kernel
    ``k = (1/m) sum_m exp(-||x - y||^2 / (2 multiplier_m sigma_0^2))`` (an equal-weight
    convex combination of Gaussian kernels). ``biased`` averages over all pairs, ``unbiased``
    drops the ``i = j`` pairs of the within-domain terms.
    Shapes: ``f_s (B_s, D)``, ``f_t (B_t, D)`` -> scalar.
    """

    name: ClassVar[str] = "mmd"
    config_class: ClassVar[type] = MMDConfig
    needs_logits: ClassVar[bool] = False

    def kernel(self, f_s: torch.Tensor, f_t: torch.Tensor) -> torch.Tensor:
        """The kernel matrix of ``[f_s; f_t]``, shape ``(B_s + B_t, B_s + B_t)``."""
        f = torch.cat([f_s, f_t], dim=0)  # (N, D)
        sq = torch.cdist(f, f).pow(2)  # (N, N)
        n = f.shape[0]
        if self.config.bandwidth is not None:
            base = torch.tensor(self.config.bandwidth, dtype=f.dtype, device=f.device)
        else:
            # the bandwidth is a hyper-parameter, not something to optimise: no gradient
            base = (sq.detach().sum() / (n * n - n)).clamp_min(torch.finfo(f.dtype).tiny)
        k = torch.zeros_like(sq)
        for m in self.config.kernel_multipliers:
            k = k + torch.exp(-sq / (2.0 * float(m) * base))
        return k / len(self.config.kernel_multipliers)

    def loss(self, f_s: torch.Tensor, f_t: torch.Tensor, logits_s: torch.Tensor | None = None,
             logits_t: torch.Tensor | None = None) -> torch.Tensor:
        b_s, b_t = f_s.shape[0], f_t.shape[0]
        k = self.kernel(f_s, f_t)
        k_ss, k_tt, k_st = k[:b_s, :b_s], k[b_s:, b_s:], k[:b_s, b_s:]
        if self.config.estimator == "biased":
            return k_ss.mean() + k_tt.mean() - 2 * k_st.mean()
        if b_s < 2 or b_t < 2:
            raise ConfigError(f"The unbiased MMD estimator needs at least 2 examples per domain. Got "
                              f"{b_s} (source) and {b_t} (target); increase the batch size or use "
                              "estimator='biased'.")
        within_s = (k_ss.sum() - k_ss.diagonal().sum()) / (b_s * (b_s - 1))
        within_t = (k_tt.sum() - k_tt.diagonal().sum()) / (b_t * (b_t - 1))
        return within_s + within_t - 2 * k_st.mean()
