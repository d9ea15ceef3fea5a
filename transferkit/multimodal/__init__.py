"""Multimodal rows: a table whose columns are images (paths), texts, numbers and categories.

Each column goes through its own encoder (:mod:`transferkit.multimodal.columns`: images
and texts through frozen backbones, with features cached per column by the feature cache;
numbers standardised; categories one-hot), a missing cell becomes zeros plus a mask bit --
no row is dropped -- and the modalities are fused (:mod:`transferkit.multimodal.fusion`):
at feature level (one logistic head on the concatenated features and masks) or late (one
head per column, their probabilities averaged over the columns a row has).
"""

from __future__ import annotations

from transferkit.multimodal.columns import KINDS, ColumnFeatures, encode_columns, parse_columns
from transferkit.multimodal.fusion import FUSIONS, concat_fusion, late_fusion

__all__ = ["FUSIONS", "KINDS", "ColumnFeatures", "concat_fusion", "encode_columns", "late_fusion",
           "parse_columns"]
