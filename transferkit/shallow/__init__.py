"""Shallow domain adaptation on cached features: no backpropagation through a backbone.

One file per method, scikit-learn style, NumPy in and out::

    >>> import numpy as np
    >>> from transferkit.shallow import SHALLOW
    >>> f_s, f_t = np.random.randn(100, 8), 2 * np.random.randn(80, 8)
    >>> coral = SHALLOW.build("coral", {"regularization": 1.0}).fit(f_s, f_t)
    >>> x_s, x_t = coral.transform_source(f_s), coral.transform_target(f_t)
    >>> w_s = coral.sample_weight(f_s)          # ones, except for importance weighting

Train the head on ``(transform_source(f_s), y_s)`` with ``sample_weight(f_s)`` and
predict on ``transform_target(f_t)``.
"""

from __future__ import annotations

from transferkit.registry import Registry
from transferkit.shallow._base import ShallowAdapter, check_features

# adapt's method_params hold a shallow method's config keys
SHALLOW: Registry[type[ShallowAdapter]] = Registry("shallow adaptation", package="transferkit.shallow",
                                                   params_key="method_params")

__all__ = ["SHALLOW", "ShallowAdapter", "check_features"]
