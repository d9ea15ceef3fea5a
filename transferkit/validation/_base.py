"""The validation context and the validator base class."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from transferkit.errors import DataError
from transferkit.options import resolve_config


def _as_array(value: Any, name: str) -> np.ndarray | None:
    if value is None:
        return None
    if hasattr(value, "detach"):  # a torch tensor
        value = value.detach().cpu().numpy()
    try:
        arr = np.asarray(value)
    except (TypeError, ValueError):
        raise DataError(f"ValidationContext.{name} must be an array. Got {type(value).__name__}.") from None
    if name == "losses_s":
        arr = arr.astype(np.float64)
        if arr.ndim != 1 or not np.isfinite(arr).all():
            raise DataError("ValidationContext.losses_s must be a 1-D array of finite per-example "
                            f"losses. Got shape {arr.shape}.")
        return arr
    if name == "labels_s":
        if arr.ndim != 1 or not np.issubdtype(arr.dtype, np.integer):
            raise DataError(f"ValidationContext.labels_s must be a 1-D array of int class indices. "
                            f"Got shape {arr.shape} and dtype {arr.dtype}.")
        return arr.astype(np.int64)
    arr = arr.astype(np.float64)
    if arr.ndim != 2:
        raise DataError(f"ValidationContext.{name} must be a 2-D array (n, d). Got shape {arr.shape}.")
    if not np.isfinite(arr).all():
        row = int(np.argwhere(~np.isfinite(arr))[0][0])
        raise DataError(f"ValidationContext.{name} holds NaN or infinite values (first at row {row}).")
    return arr


@dataclass
class ValidationContext:
    """What a validator may look at. There is deliberately no field for target labels.

    Attributes
    ----------
    logits_t: ``(n_t, K)`` the model's logits on target data.
    features_t: ``(n_t, D)`` the model's features on the same target data.
    features_s, logits_s, labels_s: ``(n_s, D)``, ``(n_s, K)``, ``(n_s,)`` on held-out
        *source* validation data (labels are class indices).
    losses_s: ``(n_s,)`` the task's loss of each source validation example, for tasks
        without classes (regression), whose raw outputs are not class logits.

    Torch tensors are accepted and converted to NumPy.
    """

    logits_t: Any = None
    features_t: Any = None
    features_s: Any = None
    logits_s: Any = None
    labels_s: Any = None
    losses_s: Any = None

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            setattr(self, f.name, _as_array(getattr(self, f.name), f.name))
        pairs = [("features_t", "logits_t"), ("features_s", "logits_s"), ("labels_s", "logits_s"),
                 ("labels_s", "features_s"), ("losses_s", "features_s")]
        for a, b in pairs:
            x, y = getattr(self, a), getattr(self, b)
            if x is not None and y is not None and len(x) != len(y):
                raise DataError(f"ValidationContext.{a} has {len(x)} rows but {b} has {len(y)}; "
                                "they must describe the same examples.")
        if self.logits_s is not None and self.logits_t is not None \
                and self.logits_s.shape[1] != self.logits_t.shape[1]:
            raise DataError(f"ValidationContext.logits_s has {self.logits_s.shape[1]} classes but "
                            f"logits_t has {self.logits_t.shape[1]}.")
        if self.features_s is not None and self.features_t is not None \
                and self.features_s.shape[1] != self.features_t.shape[1]:
            raise DataError(f"ValidationContext.features_s has {self.features_s.shape[1]} columns but "
                            f"features_t has {self.features_t.shape[1]}.")
        if self.labels_s is not None and self.logits_s is not None and len(self.labels_s) and (
                self.labels_s.min() < 0 or self.labels_s.max() >= self.logits_s.shape[1]):
            raise DataError(f"ValidationContext.labels_s must be class indices in "
                            f"[0, {self.logits_s.shape[1] - 1}]. Got values in "
                            f"[{self.labels_s.min()}, {self.labels_s.max()}].")

    def require(self, validator: str, *names: str, min_rows: int = 1) -> None:
        """Raise DataError naming the fields ``validator`` needs that are missing or too short."""
        missing = [n for n in names if getattr(self, n) is None]
        if missing:
            raise DataError(f"The '{validator}' validator needs {', '.join(names)} in the "
                            f"ValidationContext. Missing: {', '.join(missing)}.")
        for n in names:
            if len(getattr(self, n)) < min_rows:
                raise DataError(f"The '{validator}' validator needs at least {min_rows} rows in "
                                f"ValidationContext.{n}. Got {len(getattr(self, n))}.")


def softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax, ``(n, K) -> (n, K)``."""
    z = logits - logits.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def log_softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise log-softmax, ``(n, K) -> (n, K)``."""
    z = logits - logits.max(axis=1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=1, keepdims=True))


class Validator:
    """Base class: ``validator(ctx) -> float``; higher is better for every validator."""

    name: ClassVar[str] = ""
    config_class: ClassVar[type] = object
    higher_is_better: ClassVar[bool] = True

    @property
    def needs_class_probabilities(self) -> bool:
        """True when the score reads softmax probabilities of class logits (entropy, SND on
        probabilities): it cannot judge a model without classes (regression)."""
        return False

    def __init__(self, config: Any = None, **params: Any) -> None:
        self.config = resolve_config(self.config_class, config, params, self.name)

    def __call__(self, ctx: ValidationContext) -> float:
        if not isinstance(ctx, ValidationContext):
            raise DataError(f"The '{self.name}' validator takes a ValidationContext. Got "
                            f"{type(ctx).__name__} instead.")
        return float(self.score(ctx))

    def score(self, ctx: ValidationContext) -> float:
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.config!r})"
