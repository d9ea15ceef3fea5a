"""Flagging inputs unlike the training data: a Mahalanobis distance in the backbone's feature
space, thresholded by split conformal prediction.

A linear head answers every input, and a linear map extrapolates: a random-noise image,
far from every training image in feature space, can get a class probability of 1.0. A run
that carries a :class:`NoveltyDetector` reports, beside each prediction, whether the input
looks like its training inputs:

* **score**: the squared Mahalanobis distance of the input's frozen-backbone features to one
  Gaussian fitted to the training features (standardised per dimension; covariance by
  Ledoit-Wolf shrinkage, Ledoit & Wolf 2004, as a few thousand images do not pin down a
  1,000+-dimensional covariance). Lee et al. (NeurIPS 2018) use one Gaussian per class; a
  zero-shot run must not flag the classes it never saw, so here one Gaussian covers all the
  training images.
* **p-value** (split conformal, Vovk et al. 2005; Bates et al., Ann. Statist. 2023): the
  scores ``s_1..s_n`` of held-out training images -- never used to fit the Gaussian -- give
  ``p(x) = (1 + #{i: s_i >= s(x)}) / (n + 1)``.
* **flag**: ``p(x) <= level``. For an input exchangeable with the training images the chance
  of a flag is at most ``level`` (and at least ``level - 1/(n + 1)``): the false-alarm rate
  is chosen, not tuned. Inputs of other classes from the same kind of data (a zero-shot
  run's unseen classes) are mostly not flagged; noise, blank images or another domain are.

The probabilities themselves are left as the model gives them; the flag says when not to
trust them. ``predict`` writes the columns ``ood_p_value`` and ``out_of_distribution``,
``serve`` adds both keys to each answer; an ONNX export does not carry the detector.

>>> detector = NoveltyDetector(level=0.05).fit(x_fit, x_calibration)  # doctest: +SKIP
>>> detector.p_values(x_new), detector.flags(x_new)  # doctest: +SKIP
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from transferkit.errors import ConfigError, RunDirError

#: the file a run keeps its detector in (arrays only; its settings are in transferkit.json)
FILE = "novelty.safetensors"
#: the per-input columns ``predict`` and ``serve`` add
COLUMNS = ("ood_p_value", "out_of_distribution")


class NoveltyDetector:
    """Mahalanobis score + conformal p-value + flag at ``level`` (see the module docstring)."""

    def __init__(self, level: float = 0.05) -> None:
        if not 0 < float(level) < 1:
            raise ConfigError(f"The 'level' parameter (the share of in-distribution inputs flagged) must "
                              f"be in (0, 1). Got {level!r} instead.")
        self.level = float(level)

    def fit(self, x_fit: np.ndarray, x_calibration: np.ndarray) -> NoveltyDetector:
        """Fit the Gaussian on ``x_fit`` (N, D) features and keep the scores of the held-out
        ``x_calibration`` (M, D) features, which set the p-values."""
        from sklearn.covariance import LedoitWolf

        x_fit = np.asarray(x_fit, dtype=np.float64)
        if len(x_fit) < 2 or len(x_calibration) < 1:
            raise ConfigError(f"A novelty detector needs at least 2 features to fit and 1 to calibrate. "
                              f"Got {len(x_fit)} and {len(x_calibration)}.")
        self.mean_ = x_fit.mean(axis=0)
        self.scale_ = x_fit.std(axis=0) + 1e-6
        # stored as float32 (a 2,000-dim backbone: 16 MB), and scored as stored from here on
        precision = LedoitWolf().fit((x_fit - self.mean_) / self.scale_).precision_
        self.precision_ = precision.astype(np.float32).astype(np.float64)
        self.calibration_ = np.sort(self.score(x_calibration))
        return self

    def score(self, x: np.ndarray) -> np.ndarray:
        """Squared Mahalanobis distances (N,) of features ``x`` (N, D)."""
        if not hasattr(self, "precision_"):
            raise RunDirError("This NoveltyDetector is not fitted yet. Call fit(x_fit, x_calibration) first.")
        z = (np.asarray(x, dtype=np.float64) - self.mean_) / self.scale_
        return np.einsum("nd,de,ne->n", z, self.precision_, z)

    def p_values(self, x: np.ndarray) -> np.ndarray:
        """Conformal p-values (N,): the share of calibration scores at least as large, with +1."""
        s = self.score(x)
        at_least = len(self.calibration_) - np.searchsorted(self.calibration_, s, side="left")
        return (1.0 + at_least) / (len(self.calibration_) + 1.0)

    def flags(self, x: np.ndarray) -> np.ndarray:
        """True where the input is flagged as out of distribution (p-value <= level)."""
        return self.p_values(x) <= self.level

    def columns(self, x: np.ndarray) -> list[dict[str, Any]]:
        """The per-input columns ``predict`` writes (see :data:`COLUMNS`)."""
        p = self.p_values(x)
        return [{"ood_p_value": round(float(v), 6), "out_of_distribution": bool(v <= self.level)} for v in p]

    def describe(self) -> dict[str, Any]:
        """What transferkit.json and the summary record about the detector."""
        n = len(self.calibration_)
        smallest = 1.0 / (n + 1)
        return {"score": "squared Mahalanobis distance of the backbone features (Ledoit-Wolf covariance)",
                "flag": "conformal p-value <= level", "level": self.level, "n_calibration": int(n),
                "smallest_p_value": smallest, "can_flag": bool(smallest <= self.level)}

    # ------------------------------------------------------------------ on disk
    def save(self, path: str | Path) -> dict[str, Any]:
        """Write the arrays as safetensors at ``path``; returns :meth:`describe` plus the file's
        name and sha256, for the run's transferkit.json."""
        from safetensors.numpy import save as save_arrays

        from transferkit.rundir import atomic_write_bytes

        data = save_arrays({"mean": np.ascontiguousarray(self.mean_, dtype=np.float64),
                            "scale": np.ascontiguousarray(self.scale_, dtype=np.float64),
                            "precision": np.ascontiguousarray(self.precision_, dtype=np.float32),
                            "calibration": np.ascontiguousarray(self.calibration_, dtype=np.float64)})
        atomic_write_bytes(Path(path), data)
        return {**self.describe(), "file": Path(path).name, "sha256": hashlib.sha256(data).hexdigest()}

    @classmethod
    def load(cls, run_dir: str | Path, info: dict[str, Any]) -> NoveltyDetector:
        """The detector a run recorded (``info``: transferkit.json's ``novelty``), checksum-checked."""
        from safetensors.numpy import load as load_arrays

        path = Path(run_dir) / str(info.get("file", FILE))
        if not path.is_file():
            raise RunDirError(f"'{path}' is missing, though transferkit.json records a novelty detector. "
                              "The run directory is incomplete; re-run the job that wrote it.")
        data = path.read_bytes()
        if hashlib.sha256(data).hexdigest() != info.get("sha256"):
            raise RunDirError(f"'{path}' does not match the checksum in transferkit.json: the file was "
                              "edited or corrupted. Re-run the job that wrote it.")
        arrays = load_arrays(data)
        out = cls(float(info["level"]))
        out.mean_, out.scale_ = arrays["mean"], arrays["scale"]
        out.precision_, out.calibration_ = arrays["precision"].astype(np.float64), arrays["calibration"]
        return out


def predict_with_novelty(model: Any, items: Sequence[Any], task: Any, detector: NoveltyDetector,
                         batch_size: int = 64) -> tuple[np.ndarray, list[dict[str, Any]]]:
    """The task's postprocessed outputs of raw ``items`` and each item's novelty columns, from
    one backbone pass (the features feed both the head and the detector)."""
    import torch

    from transferkit.pipeline.stages import concat_outputs, map_batches

    def both(m: Any, x: Any) -> tuple[np.ndarray, np.ndarray]:
        feats = m.backbone(x)  # (B, D)
        out = task.postprocess(m.forward_features(feats)).float().cpu().numpy()
        return out, feats.double().cpu().numpy()

    model.eval()
    with torch.inference_mode():
        parts = map_batches(model, list(items), both, batch_size)
    if not parts:
        return np.zeros((0, model.num_classes), np.float32), []
    feats = np.concatenate([f for _, f in parts])
    return concat_outputs([o for o, _ in parts]), detector.columns(feats)


def with_columns(rows: list[dict[str, Any]], extra: list[dict[str, Any]] | None) -> list[dict[str, Any]]:
    """``rows`` with each input's novelty columns appended (as they are without a detector)."""
    return rows if extra is None else [{**r, **e} for r, e in zip(rows, extra, strict=True)]


__all__ = ["COLUMNS", "FILE", "NoveltyDetector", "predict_with_novelty", "with_columns"]
