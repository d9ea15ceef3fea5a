"""The contract of a shallow adaptation method and its input checks."""

from __future__ import annotations

from typing import Any, ClassVar, Self

import numpy as np

from transferkit._threads import blas_threads
from transferkit.errors import DataError, NotFittedError
from transferkit.options import resolve_config


def check_features(x: Any, name: str, method: str, dim: int | None = None,
                   min_rows: int = 1) -> np.ndarray:
    """``x`` as a finite float64 array of shape ``(n, dim)``, or a DataError naming ``name``."""
    try:
        arr = np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError):
        raise DataError(f"The '{name}' argument of {method} must be a numeric array of shape "
                        f"(n, d). Got {type(x).__name__} instead.") from None
    if arr.ndim != 2:
        raise DataError(f"The '{name}' argument of {method} must be a 2-D array (n, d). Got shape "
                        f"{arr.shape} instead.")
    if arr.shape[0] < min_rows:
        raise DataError(f"The '{name}' argument of {method} needs at least {min_rows} rows. Got "
                        f"{arr.shape[0]}.")
    if dim is not None and arr.shape[1] != dim:
        raise DataError(f"The '{name}' argument of {method} must have {dim} columns, like the "
                        f"features it was fitted on. Got {arr.shape[1]} instead.")
    if not np.isfinite(arr).all():
        bad = int(np.argwhere(~np.isfinite(arr))[0][0])
        raise DataError(f"The '{name}' argument of {method} holds NaN or infinite values (first at "
                        f"row {bad}). Clean or impute the features first.")
    return arr


class ShallowAdapter:
    """Base class: ``fit(f_s, f_t)`` learns; the transforms and weights use what it learned.

    Subclasses set ``name`` and ``config_class`` and implement ``_fit`` (and where they
    change features or weights, ``_transform_source`` / ``_transform_target`` /
    ``_sample_weight``). Learned attributes end in ``_``.
    """

    name: ClassVar[str] = ""
    config_class: ClassVar[type] = object

    def __init__(self, config: Any = None, **params: Any) -> None:
        self.config = resolve_config(self.config_class, config, params, self.name)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.config!r})"

    # -- public API -------------------------------------------------------------------
    def fit(self, f_s: Any, f_t: Any) -> Self:
        """Learn the adaptation from source features ``(n_s, D)`` and target ``(n_t, D)``."""
        x_s = check_features(f_s, "f_s", f"{self.name}.fit", min_rows=2)
        x_t = check_features(f_t, "f_t", f"{self.name}.fit", dim=x_s.shape[1], min_rows=2)
        with blas_threads():  # beside torch, an unpinned BLAS pool oversubscribes the cores
            self._fit(x_s, x_t)
        self.n_features_in_ = x_s.shape[1]
        return self

    def transform_source(self, f_s: Any) -> np.ndarray:
        """Source features in the adapted space, ``(n, D) -> (n, D')``."""
        x = self._checked(f_s, "f_s", "transform_source")
        with blas_threads():
            return self._transform_source(x)

    def transform_target(self, f_t: Any) -> np.ndarray:
        """Target features in the adapted space, ``(n, D) -> (n, D')``."""
        x = self._checked(f_t, "f_t", "transform_target")
        with blas_threads():
            return self._transform_target(x)

    def sample_weight(self, f_s: Any) -> np.ndarray:
        """Weights of source examples for training the head, ``(n, D) -> (n,)``, mean 1."""
        return self._sample_weight(self._checked(f_s, "f_s", "sample_weight"))

    def fit_transform(self, f_s: Any, f_t: Any) -> tuple[np.ndarray, np.ndarray]:
        """``fit`` then ``(transform_source(f_s), transform_target(f_t))``."""
        self.fit(f_s, f_t)
        return self.transform_source(f_s), self.transform_target(f_t)

    # -- what subclasses implement ----------------------------------------------------
    def _fit(self, x_s: np.ndarray, x_t: np.ndarray) -> None:
        raise NotImplementedError

    def _transform_source(self, x: np.ndarray) -> np.ndarray:
        return x.copy()

    def _transform_target(self, x: np.ndarray) -> np.ndarray:
        return x.copy()

    def _sample_weight(self, x: np.ndarray) -> np.ndarray:
        return np.ones(x.shape[0])

    def _checked(self, x: Any, name: str, method: str) -> np.ndarray:
        if not hasattr(self, "n_features_in_"):
            raise NotFittedError(f"This {type(self).__name__} is not fitted yet. Call "
                                 f"fit(f_s, f_t) before {method}.")
        return check_features(x, name, f"{self.name}.{method}", dim=self.n_features_in_)
