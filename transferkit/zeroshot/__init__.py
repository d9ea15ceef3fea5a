"""Zero-shot classification across modalities: images of classes never seen in training,
classified by their names.

A method maps image features into the text encoder's label-embedding space and scores a
class by its name's embedding (``ZSL_METHODS``, one file each: ESZSL, DeViSE, ConSE and a
random-mapping control). :mod:`transferkit.zeroshot.protocol` runs the seen/unseen
protocol (ZSL and generalised ZSL with calibrated stacking)::

    >>> from transferkit.zeroshot import ZSL_METHODS
    >>> ZSL_METHODS.names()  # doctest: +SKIP
    ['conse', 'devise', 'eszsl', 'random']
"""

from __future__ import annotations

from transferkit.registry import Registry
from transferkit.zeroshot._base import LabelSpace, ZeroShotMethod

ZSL_METHODS: Registry[type[ZeroShotMethod]] = Registry("zero-shot method", package="transferkit.zeroshot")

__all__ = ["ZSL_METHODS", "LabelSpace", "ZeroShotMethod"]
