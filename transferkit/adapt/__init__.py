"""Unsupervised domain adaptation (the ``adapt`` job); see :mod:`transferkit.adapt.job`."""

from transferkit.adapt.job import *  # noqa: F403
from transferkit.adapt.job import (  # noqa: F401
    _adapt_train,
    _Adapter,
    _Views,
)
