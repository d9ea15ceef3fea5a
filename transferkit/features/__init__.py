"""Frozen-backbone features, computed once and cached on disk.

- :mod:`~transferkit.features.extract`: :func:`extract_features`, batching, length
  ordering of texts, sharding under ``accelerate launch``;
- :mod:`~transferkit.features.cache`: the on-disk :class:`FeatureCache` (atomic entries,
  CRC-32 checks) and the keys it stores them under (:func:`cache_key`,
  :func:`backbone_fingerprint`);
- :mod:`~transferkit.features.onnx`: the onnxruntime fast path for image backbones
  (export, check against torch, tuned sessions).

>>> import transferkit as tk  # doctest: +SKIP
>>> feats = tk.extract_features("efficientnet_lite0", tk.data.load("digits"))
>>> feats.shape
(1797, 1280)
"""

from __future__ import annotations

from transferkit.features.cache import (
    CACHE_VERSION,
    FeatureCache,
    backbone_fingerprint,
    cache_key,
    default_cache_dir,
    forget_fingerprint,
)
from transferkit.features.extract import BACKENDS, extract_features, length_order
from transferkit.features.onnx import (
    ONNX_TOLERANCE,
    export_onnx,
    forget_sessions,
    ort_session,
    ort_spinning,
    physical_cores,
)

__all__ = ["BACKENDS", "CACHE_VERSION", "ONNX_TOLERANCE", "FeatureCache", "backbone_fingerprint", "cache_key",
           "default_cache_dir", "export_onnx", "extract_features", "forget_fingerprint", "forget_sessions",
           "length_order",
           "ort_session", "ort_spinning", "physical_cores"]
