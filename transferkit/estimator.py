"""``TransferClassifier`` and ``TransferRegressor``: transfer learning as scikit-learn estimators.

It runs the same pipeline pieces as :func:`transferkit.fit` (backbone, mapping phi, the
strategy's stages through the one training loop, cached features for frozen stages) on
in-memory data, and writes a run directory only when ``run_dir`` is given. It follows
the estimator contract: ``__init__`` stores parameters, ``fit`` learns, learned state
ends in ``_``, so it works in ``Pipeline``, ``cross_val_score`` and ``GridSearchCV``.

``X`` may be images ``(N, H, W)`` / ``(N, H, W, C)`` (uint8, or floats in [0, 1]) or a list of
image file paths (each decoded as transferkit decodes image folders), a
list of texts, a ``pandas.DataFrame`` (numeric and categorical columns) or a 2-D numeric
array (a table), or ``(N, T, C)`` series with ``modality="sequence"``.

>>> from sklearn.model_selection import cross_val_score
>>> from sklearn.datasets import load_breast_cancer
>>> X, y = load_breast_cancer(return_X_y=True)
>>> cross_val_score(TransferClassifier(backbone="tabular", epochs=20), X, y).mean()  # doctest: +SKIP
0.96...

Both share one base (:class:`TransferEstimator`: inputs, the engine, the run directory);
they differ only in their task: the classifier encodes class labels and answers with the
most probable one, the regressor standardises numeric targets (the inverse transform is
part of its head) and answers in the target's original units; its ``score`` is R².

Given a 2-D 0/1 ``y`` (scikit-learn's multilabel-indicator convention), the classifier
fits the ``multilabel`` task instead: ``predict`` returns a 0/1 matrix (one threshold per
label, chosen on the validation part when ``val_fraction > 0``), ``predict_proba`` each
label's sigmoid probability ``(N, L)``, and ``score`` is scikit-learn's default for
classifiers, the subset accuracy (every label of an example right).
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any, ClassVar

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.exceptions import NotFittedError as _SklearnNotFittedError

from transferkit.errors import ConfigError, DataError, NotFittedError

MODALITIES = ("image", "text", "table", "sequence")
DEFAULT_BACKBONES = {"image": "efficientnet_lite0", "text": "minilm", "table": "tabular",
                     "sequence": "sequence:cnn"}


class EstimatorNotFittedError(NotFittedError, _SklearnNotFittedError):
    """Raised before ``fit``: both transferkit's and scikit-learn's NotFittedError."""


def _image_paths(X: Any) -> bool:
    """True for a sequence of image file paths (str or Path, each with an image suffix and
    existing): the estimators read them as images, not as texts."""
    from transferkit.data.decode import is_image_file

    if isinstance(X, (str, Path)) or not isinstance(X, (list, tuple, np.ndarray)) or not len(X):
        return False
    if isinstance(X, np.ndarray) and X.ndim != 1:
        return False
    head = list(X[:100])
    return (all(isinstance(v, (str, Path)) and is_image_file(Path(v)) for v in head)
            and all(Path(v).is_file() for v in head[:5]))


def _is_text(X: Any) -> bool:
    if isinstance(X, str):
        return False
    if isinstance(X, np.ndarray):
        return X.ndim == 1 and (X.dtype.kind == "U" or (X.dtype == object and len(X) > 0 and
                                                         all(isinstance(v, str) for v in X[:100])))
    if isinstance(X, (list, tuple)):
        return len(X) > 0 and all(isinstance(v, str) for v in X[:100])
    return False


class TransferEstimator(BaseEstimator):
    """What :class:`TransferClassifier` and :class:`TransferRegressor` share: parameter
    checks, inputs of every modality, and fitting the task's model through the engine.
    Subclasses set ``task_name`` and turn ``y`` into the task's targets (:meth:`_targets`).

    Parameters
    ----------
    backbone : str or None
        Backbone spec (see ``transferkit models``); None picks by modality:
        efficientnet_lite0 (images), minilm (texts), tabular (tables), sequence:cnn.
    strategy : str or None
        Fine-tuning strategy; None: linear-probe for pretrained image/text backbones,
        full for backbones that start from random weights (the table and sequence
        encoders, any ``pretrained=False``): the rule ``transferkit fit`` applies.
    epochs, lr, batch_size, weight_decay, head_dropout :
        Training loop settings (as in ``transferkit fit``).
    val_fraction : float
        Part of the training data held out for early stopping (0: none; then
        ``patience`` is ignored and all ``epochs`` run).
    patience : int or None
        Early-stopping patience in evaluations (used with ``val_fraction > 0``).
    image_size, max_length, pretrained, mapping, strategy_params :
        Backbone and mapping settings.
    modality : {"image", "text", "table", "sequence"} or None
        None infers it from ``X``.
    seed : int
        Seeds initialisation, batch order and the validation split.
    cache_dir : str or None
        Feature cache for frozen stages (default: the user cache directory).
    run_dir : str or None
        Also write a run directory there (readable by ``transferkit.load``).

    Attributes
    ----------
    n_features_in_ : int
        Number of columns (tables only).
    feature_names_in_ : ndarray of str
        Column names, when ``X`` was a DataFrame with string column names.
    model_ : TransferModel
    modality_, backbone_, strategy_ : str
        What ``fit`` used after resolving the defaults.
    """

    #: the registered task the estimator fits
    task_name: ClassVar[str] = ""

    def __init__(self, backbone: str | None = None, strategy: str | None = None, *,
                 epochs: int = 10, lr: float = 1e-3, batch_size: int = 32,
                 weight_decay: float = 1e-4, head_dropout: float = 0.0,
                 val_fraction: float = 0.0, patience: int | None = 5, image_size: int | None = None,
                 max_length: int | None = None, pretrained: bool = True, mapping: str = "identity",
                 strategy_params: dict[str, Any] | None = None, modality: str | None = None,
                 seed: int = 0, cache_dir: str | None = None, run_dir: str | None = None) -> None:
        self.backbone = backbone
        self.strategy = strategy
        self.epochs = epochs
        self.lr = lr
        self.batch_size = batch_size
        self.weight_decay = weight_decay
        self.head_dropout = head_dropout
        self.val_fraction = val_fraction
        self.patience = patience
        self.image_size = image_size
        self.max_length = max_length
        self.pretrained = pretrained
        self.mapping = mapping
        self.strategy_params = strategy_params
        self.modality = modality
        self.seed = seed
        self.cache_dir = cache_dir
        self.run_dir = run_dir

    # ------------------------------------------------------------------ sklearn plumbing
    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = False
        tags.input_tags.string = True  # lists of texts
        tags.input_tags.categorical = True  # DataFrames with categorical columns
        tags.input_tags.three_d_array = True  # images and series
        tags.non_deterministic = False
        return tags

    def __sklearn_is_fitted__(self) -> bool:
        return hasattr(self, "model_")

    def _check_fitted(self) -> None:
        if not hasattr(self, "model_"):
            raise EstimatorNotFittedError(f"This {type(self).__name__} instance is not fitted yet. Call 'fit' "
                                 "with appropriate arguments before using this estimator.")

    def _validate_params(self) -> None:
        checks = (("epochs", self.epochs, int, 1), ("batch_size", self.batch_size, int, 1),
                  ("seed", self.seed, int, 0))
        for name, value, tp, low in checks:
            if isinstance(value, bool) or not isinstance(value, (tp, np.integer)) or value < low:
                raise ConfigError(f"The '{name}' parameter of {type(self).__name__} must be an int >= "
                                  f"{low}. Got {value!r} instead.")
        if isinstance(self.lr, bool) or not isinstance(self.lr, (int, float)) or not self.lr > 0:
            raise ConfigError(f"The 'lr' parameter of {type(self).__name__} must be a float > 0. "
                              f"Got {self.lr!r} instead.")
        if not isinstance(self.val_fraction, (int, float)) or not 0 <= self.val_fraction < 1:
            raise ConfigError(f"The 'val_fraction' parameter of {type(self).__name__} must be a float "
                              f"in [0, 1). Got {self.val_fraction!r} instead.")
        if self.modality is not None and self.modality not in MODALITIES:
            raise ConfigError(f"The 'modality' parameter of {type(self).__name__} must be one of "
                              f"{', '.join(MODALITIES)} or None. Got {self.modality!r} instead.")

    # ------------------------------------------------------------------ inputs
    def _infer_modality(self, X: Any) -> str:
        if self.modality is not None:
            return self.modality
        if hasattr(X, "iloc") and hasattr(X, "columns"):
            return "table"
        if _image_paths(X):
            return "image"
        if _is_text(X):
            return "text"
        ndim = getattr(X, "ndim", None)
        if ndim is None:
            try:
                ndim = np.asarray(X).ndim
            except (ValueError, TypeError):
                ndim = None
        if ndim in (3, 4):
            return "image"
        return "table"  # sklearn's validation names what is wrong with other shapes

    def _table(self, X: Any, reset: bool) -> Any:
        """(DataFrame of feature columns, schema) for a table ``X``."""
        import pandas as pd
        from sklearn.utils.validation import validate_data

        from transferkit.data.tables import check_table, infer_schema

        frame_in = X if isinstance(X, pd.DataFrame) else None
        if reset:
            self.numeric_table_ = frame_in is None or all(
                pd.api.types.is_numeric_dtype(t) or pd.api.types.is_bool_dtype(t) for t in frame_in.dtypes)
        elif not self.numeric_table_ and frame_in is None:
            raise DataError(f"{type(self).__name__} was fitted on a DataFrame with categorical columns "
                            f"{list(self.feature_names_in_)}; pass a DataFrame with these columns.")
        if self.numeric_table_:
            arr = validate_data(self, X, reset=reset, dtype=np.float64, ensure_min_samples=1)
            names = (list(map(str, self.feature_names_in_)) if hasattr(self, "feature_names_in_")
                     else [f"x{i}" for i in range(arr.shape[1])])
            frame = pd.DataFrame(arr, columns=names)
        else:
            # categorical columns: transferkit's schema does the checking and encoding
            if reset:
                self.n_features_in_ = frame_in.shape[1]
                self.feature_names_in_ = np.asarray([str(c) for c in frame_in.columns], dtype=object)
            elif frame_in.shape[1] != self.n_features_in_:
                raise ValueError(f"X has {frame_in.shape[1]} features, but {type(self).__name__} is "
                                 f"expecting {self.n_features_in_} features as input.")
            frame = frame_in.rename(columns=str)
        if reset:
            self.schema_ = infer_schema(frame)
        return check_table(frame, self.schema_, "X")

    def _images(self, X: Any) -> Any:
        if _image_paths(X) or (isinstance(X, (list, tuple)) and X and isinstance(X[0], Path)):
            return self._read_paths(X)
        arr = np.asarray(X)
        if arr.ndim not in (3, 4) or (arr.ndim == 4 and arr.shape[-1] not in (1, 3, 4)):
            raise DataError(f"Images must be an array of shape (N, H, W) or (N, H, W, C) with C in 1, 3, "
                            f"4. Got shape {arr.shape}.")
        if arr.dtype == np.uint8:
            return arr
        if not np.issubdtype(arr.dtype, np.number):
            raise DataError(f"Images must be numeric (uint8, or floats in [0, 1]). Got dtype {arr.dtype}.")
        arr = arr.astype(np.float64)
        if not np.isfinite(arr).all():
            raise DataError("Images contain NaN or infinite values.")
        if arr.size and arr.max() <= 1.0:
            arr = arr * 255.0
        return np.clip(np.rint(arr), 0, 255).astype(np.uint8)

    @staticmethod
    def _read_paths(X: Any) -> list[np.ndarray]:
        """Decoded images (uint8, each its own size) of the files ``X``; a missing or broken
        file is a DataError naming it."""
        from transferkit.data.decode import read_image

        missing = [str(p) for p in X if not Path(p).is_file()]
        if missing:
            raise DataError(f"X names {len(missing)} image file(s) that do not exist, e.g. {missing[0]!r}.")
        return [read_image(p) for p in X]

    def _inputs(self, X: Any, reset: bool) -> tuple[Any, Any]:
        """(dataset x, schema) for ``X`` in the fitted (or inferred) modality."""
        modality = self.modality_
        if modality == "table":
            frame = self._table(X, reset)
            return frame, self.schema_
        if modality == "text":
            if not _is_text(X):
                raise DataError(f"{type(self).__name__} was fitted on texts; X must be a list of strings. "
                                f"Got {type(X).__name__}.")
            return [str(t) for t in X], None
        if modality == "image":
            return self._images(X), None
        arr = np.asarray(X, dtype=np.float32)
        if arr.ndim != 3 or not np.isfinite(arr).all():
            raise DataError(f"Series must be a finite array of shape (N, T, C). Got shape {arr.shape}.")
        return arr, None

    def _items(self, x: Any) -> list[Any]:
        if self.modality_ == "table":
            return list(x.to_numpy(dtype=object))
        return list(x)

    # ------------------------------------------------------------------ fit / predict
    def _targets(self, y: np.ndarray) -> tuple[np.ndarray, list[str]]:
        """(the task's targets, class names) of a checked ``y`` (1-D, or the 0/1 matrix of
        label sets when :meth:`_task_for` says so); learns e.g. ``classes_``."""
        raise NotImplementedError

    def _task_for(self, y: np.ndarray) -> str:
        """The registered task that fits ``y`` (default: ``task_name``)."""
        return self.task_name

    def _task_params(self) -> dict[str, Any]:
        """The task's parameters (its config keys)."""
        return {}

    def _train_params(self) -> dict[str, Any]:
        """Training-loop keys beyond the shared ones."""
        return {}

    def _stratify(self, y: np.ndarray) -> np.ndarray:
        """What the validation split is stratified on."""
        return y

    def fit(self, X: Any, y: Any) -> TransferEstimator:
        """Build the backbone, run the strategy's stages on (X, y) and keep the model."""
        import torch

        from transferkit.config import FitConfig, from_dict
        from transferkit.data.dataset import TransferDataset
        from transferkit.pipeline import Run, StageRunner, build_model, predict_items
        from transferkit.pipeline.build import default_strategy
        from transferkit.tasks import get_task

        name = type(self).__name__
        self._validate_params()
        if y is None:
            raise ValueError(f"{name} requires y to be passed, but the target y is None.")
        for attr in ("n_features_in_", "feature_names_in_"):
            if hasattr(self, attr):
                delattr(self, attr)
        self.modality_ = self._infer_modality(X)
        x, schema = self._inputs(X, reset=True)
        y = np.asarray(y)
        task = get_task(self._task_for(y), self._task_params() or None)
        sets = task.targets == "label_sets"
        if sets and len(y) != len(x):
            raise ValueError(f"y must have one row of labels per example of X: X has {len(x)} examples, "
                             f"y has shape {y.shape}.")
        if not sets and y.ndim == 2 and y.shape[1] == 1:
            import warnings

            from sklearn.exceptions import DataConversionWarning

            warnings.warn("A column-vector y was passed when a 1d array was expected. Please change the "
                          "shape of y to (n_samples,), for example using ravel().",
                          DataConversionWarning, stacklevel=2)
            y = y.ravel()
        if not sets and (y.ndim != 1 or len(y) != len(x)):
            raise ValueError(f"y must be 1-D with one label per example of X: X has {len(x)} examples, "
                             f"y has shape {y.shape}.")
        y_enc, class_names = self._targets(y)
        data = TransferDataset(name=name, modality=self.modality_, x=x, y=y_enc,
                               classes=class_names, split="train", schema=schema)
        train, val = data, data.subset([], split="val")
        if self.val_fraction > 0:
            from sklearn.model_selection import train_test_split

            idx = np.arange(len(data))
            if sets:  # iterative stratification keeps every label's share in both parts
                from transferkit.data.splits import iterative_parts

                tr, va = iterative_parts(y_enc, [1.0 - self.val_fraction, self.val_fraction], int(self.seed))
                tr, va = np.sort(tr), np.sort(va)
            else:
                try:
                    tr, va = train_test_split(idx, test_size=self.val_fraction, random_state=self.seed,
                                              stratify=self._stratify(y_enc))
                except ValueError:  # too few examples per class (or bin) to stratify
                    tr, va = train_test_split(idx, test_size=self.val_fraction, random_state=self.seed)
            train, val = data.subset(tr, split="train"), data.subset(va, split="val")

        self.backbone_ = self.backbone or DEFAULT_BACKBONES[self.modality_]
        # one rule with fit: a probe for pretrained backbones, end to end for random-init ones
        # (the strategy's own parameters: fit's default backbone rate of 1.0 for random-init
        # backbones is not applied here yet, it moved predict_proba of the estimator checks'
        # tiny MLP by 2e-7 between batch sizes, beyond their 1e-7 tolerance)
        self.strategy_ = self.strategy or default_strategy(self.backbone_, bool(self.pretrained))[0]
        strategy_params = dict(self.strategy_params or {})
        cfg = from_dict(FitConfig, {
            "data": {"data": name, "seed": int(self.seed)},
            "backbone": {"name": self.backbone_, "pretrained": bool(self.pretrained),
                         "image_size": self.image_size, "max_length": self.max_length},
            "task": task.name, "task_params": self._task_params(),
            "strategy": self.strategy_, "strategy_params": strategy_params,
            "mapping": self.mapping,
            "train": {"epochs": int(self.epochs), "lr": float(self.lr), "batch_size": int(self.batch_size),
                      "weight_decay": float(self.weight_decay), "head_dropout": float(self.head_dropout),
                      "patience": self.patience if len(val) else None, **self._train_params()},
            "cache_dir": self.cache_dir,
        }, name)
        torch.manual_seed(int(self.seed))
        model = build_model(cfg, train, task)
        splits = SimpleNamespace(train=train, val=val)
        runner = StageRunner(cfg, splits, self.cache_dir, None, False, lambda _m: None, task=task)
        runner.run(model, self.strategy_, dict(strategy_params))
        self.model_ = model.eval()
        self.task_ = task
        # decision settings (label sets: one threshold per label) from the validation part
        val_outputs = predict_items(model, self._items(val.x), task) if len(val) else None
        task.tune_head(model.head, val.y if len(val) else None, val_outputs)
        self.history_ = runner.history
        if self.run_dir is not None:
            Run("fit", out=self.run_dir).save_model(model, task, train, cfg)
        return self

    def _outputs(self, X: Any, batch_size: int = 256) -> np.ndarray:
        """The task's postprocessed outputs (probabilities, values) for ``X``."""
        from transferkit.pipeline import predict_items

        self._check_fitted()
        x, _ = self._inputs(X, reset=False)
        return predict_items(self.model_, self._items(x), self.task_, batch_size=batch_size).astype(np.float64)


class TransferClassifier(ClassifierMixin, TransferEstimator):
    """A transferred classifier with the scikit-learn estimator interface.

    Parameters as :class:`TransferEstimator`, plus ``label_smoothing`` (of the
    cross-entropy). Attributes as there, plus ``classes_ : ndarray of shape (n_classes,)``.
    """

    task_name = "classification"

    def __init__(self, backbone: str | None = None, strategy: str | None = None, *,
                 epochs: int = 10, lr: float = 1e-3, batch_size: int = 32,
                 weight_decay: float = 1e-4, head_dropout: float = 0.0, label_smoothing: float = 0.0,
                 val_fraction: float = 0.0, patience: int | None = 5, image_size: int | None = None,
                 max_length: int | None = None, pretrained: bool = True, mapping: str = "identity",
                 strategy_params: dict[str, Any] | None = None, modality: str | None = None,
                 seed: int = 0, cache_dir: str | None = None, run_dir: str | None = None) -> None:
        super().__init__(backbone, strategy, epochs=epochs, lr=lr, batch_size=batch_size,
                         weight_decay=weight_decay, head_dropout=head_dropout,
                         val_fraction=val_fraction, patience=patience, image_size=image_size,
                         max_length=max_length, pretrained=pretrained, mapping=mapping,
                         strategy_params=strategy_params, modality=modality, seed=seed,
                         cache_dir=cache_dir, run_dir=run_dir)
        self.label_smoothing = label_smoothing

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_label = True  # a 0/1 y matrix fits the multilabel task
        return tags

    def _train_params(self) -> dict[str, Any]:
        return {"label_smoothing": float(self.label_smoothing)}

    def _task_for(self, y: np.ndarray) -> str:
        from sklearn.utils.multiclass import type_of_target

        try:
            kind = type_of_target(y)
        except ValueError:  # check_classification_targets names what is wrong
            return self.task_name
        return "multilabel" if kind == "multilabel-indicator" else self.task_name

    def _targets(self, y: np.ndarray) -> tuple[np.ndarray, list[str]]:
        from sklearn.utils.multiclass import check_classification_targets

        check_classification_targets(y)
        if self._task_for(y) == "multilabel":  # (N, L) 0/1: label sets, named by column
            y_sets = np.asarray(y).astype(np.uint8)
            self.classes_ = np.arange(y_sets.shape[1])
            return y_sets, [str(j) for j in self.classes_]
        self.classes_, y_enc = np.unique(y, return_inverse=True)
        if len(self.classes_) < 2:
            raise ValueError(f"The target y needs at least 2 classes to train a classifier; got 1 class: "
                             f"{self.classes_[0]!r}.")
        return y_enc, [str(c) for c in self.classes_]

    def fit(self, X: Any, y: Any) -> TransferClassifier:
        """Build the backbone, run the strategy's stages on (X, y) and keep the model."""
        super().fit(X, y)
        return self

    def predict_proba(self, X: Any, batch_size: int = 256) -> np.ndarray:
        """Class probabilities, shape (n_samples, n_classes), columns in ``classes_`` order;
        after a fit on a 0/1 matrix, each label's own probability (n_samples, n_labels)."""
        return self._outputs(X, batch_size)

    def predict(self, X: Any) -> np.ndarray:
        """The most probable class of each example (labels as given to ``fit``); after a fit
        on a 0/1 matrix, the 0/1 matrix of predicted labels (each label at or above its
        threshold, ``thresholds_``)."""
        probs = self.predict_proba(X)  # checks that fit was called
        if self.task_.targets == "label_sets":
            return (probs >= self.thresholds_).astype(np.int64)
        return self.classes_[probs.argmax(axis=1)]

    @property
    def thresholds_(self) -> np.ndarray:
        """Each label's decision threshold (after a fit on a 0/1 matrix): chosen on the
        validation part for the label's F1 when ``val_fraction > 0``, else 0.5."""
        self._check_fitted()
        if self.task_.targets != "label_sets":
            raise AttributeError(f"{type(self).__name__} has thresholds only after a fit on a 0/1 label matrix.")
        return self.model_.head.thresholds.detach().cpu().numpy().astype(np.float64)

    def predict_log_proba(self, X: Any) -> np.ndarray:
        return np.log(np.clip(self.predict_proba(X), 1e-300, None))


class TransferRegressor(RegressorMixin, TransferEstimator):
    """A transferred regressor with the scikit-learn estimator interface: one number per
    example, in the units of ``y`` (the target standardisation, and ``log1p`` when asked,
    are inverted inside the model); ``score`` is R².

    Parameters as :class:`TransferEstimator`, plus ``loss`` ("mse" or "huber", on the
    standardised targets) and ``target_transform`` ("none" or "log1p", for amounts that
    span orders of magnitude).

    >>> from sklearn.datasets import load_diabetes
    >>> X, y = load_diabetes(return_X_y=True)
    >>> TransferRegressor(backbone="tabular", epochs=30).fit(X, y).score(X, y)  # doctest: +SKIP
    0.5...
    """

    task_name = "regression"

    def __init__(self, backbone: str | None = None, strategy: str | None = None, *,
                 epochs: int = 10, lr: float = 1e-3, batch_size: int = 32,
                 weight_decay: float = 1e-4, head_dropout: float = 0.0, loss: str = "mse",
                 target_transform: str = "none",
                 val_fraction: float = 0.0, patience: int | None = 5, image_size: int | None = None,
                 max_length: int | None = None, pretrained: bool = True, mapping: str = "identity",
                 strategy_params: dict[str, Any] | None = None, modality: str | None = None,
                 seed: int = 0, cache_dir: str | None = None, run_dir: str | None = None) -> None:
        super().__init__(backbone, strategy, epochs=epochs, lr=lr, batch_size=batch_size,
                         weight_decay=weight_decay, head_dropout=head_dropout,
                         val_fraction=val_fraction, patience=patience, image_size=image_size,
                         max_length=max_length, pretrained=pretrained, mapping=mapping,
                         strategy_params=strategy_params, modality=modality, seed=seed,
                         cache_dir=cache_dir, run_dir=run_dir)
        self.loss = loss
        self.target_transform = target_transform

    def _task_params(self) -> dict[str, Any]:
        return {"loss": self.loss, "target_transform": self.target_transform}

    def _targets(self, y: np.ndarray) -> tuple[np.ndarray, list[str]]:
        try:
            values = y.astype(np.float64)
        except (TypeError, ValueError):
            raise ValueError(f"{type(self).__name__} needs numeric targets y; got values such as "
                             f"{y[:3].tolist()!r}. Use TransferClassifier for class labels.") from None
        bad = np.flatnonzero(~np.isfinite(values))
        if len(bad):
            raise ValueError(f"Input y contains NaN or infinity (first at row {int(bad[0])}); a "
                             "regression target must be a finite number: fix or drop that row.")
        return values, []

    def _stratify(self, y: np.ndarray) -> np.ndarray:
        from transferkit.data.targets import value_strata

        return value_strata(y)

    def fit(self, X: Any, y: Any) -> TransferRegressor:
        """Build the backbone, run the strategy's stages on (X, y) and keep the model."""
        super().fit(X, y)
        return self

    def predict(self, X: Any) -> np.ndarray:
        """The predicted value of each example, shape (n_samples,), in the units of ``y``."""
        return self._outputs(X).reshape(-1)
