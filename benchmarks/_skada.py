"""skada as the peer of transferkit's unsupervised adaptation, on the same cached features.

For one adapt configuration (the D1/D2 benchmark's command) and seed, the features are the
ones the adapt run reads: :func:`transferkit.jobs.adapt.load_data` (the same source split,
the same sampled unlabelled target pool, the same resolution matching) and the adapt run's
backbone (:func:`transferkit.jobs.adapt.job.build_backbone`), read from the same feature
cache. skada 0.6 then fits, on standardised features with scikit-learn's
``LogisticRegression(max_iter=1000)`` as the classifier:

- source only (no adaptation: the plain tool's baseline);
- CORAL, subspace alignment, TCA, KMM, density reweighting, OT mapping, JDOT.

Selection is skada's own protocol: ``GridSearchCV`` over each method's documented
hyper-parameter with ``cv=SourceTargetShuffleSplit(n_splits=3)`` and the
``SoftNeighborhoodDensity`` scorer (SND: the same label-free validator as transferkit's
``--select snd``); target labels are read only to score the chosen model on the target test
split. The source is subsampled to :data:`MAX_SOURCE` examples per seed (stratified) so the
kernel methods (TCA, KMM) fit in memory and time on 2 cores; the source-only row uses the
same subsample. The deep methods of ``skada[deep]`` -- DANN, DeepCORAL, MCC, and their
deep source-only baseline -- train :class:`FeatureMLP` (standardised features -> 256 ReLU
units -> classes; the adaptation loss acts on the 256 units) with Adam (lr 1e-3, batch 64,
:data:`DEEP_EPOCHS` epochs, skorch through skada), their ``reg`` chosen by the same
grid search and scorer.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

#: source examples skada's methods see (stratified sample; TCA's kernel is (n_s + n_t)^2)
MAX_SOURCE = 2000
#: the hyper-parameter each method's grid search chooses (skada's documented parameters)
GRIDS: dict[str, tuple[str, dict[str, list[Any]]]] = {
    "source only": ("", {"logisticregression__C": [0.1, 1.0, 10.0]}),
    "CORAL": ("CORALAdapter", {"coraladapter__reg": ["auto", 1e-3, 1.0]}),
    "subspace alignment": ("SubspaceAlignmentAdapter", {"subspacealignmentadapter__n_components": [16, 64, 128]}),
    "TCA": ("TransferComponentAnalysisAdapter", {"transfercomponentanalysisadapter__mu": [0.1, 1.0]}),
    "KMM": ("KMMReweightAdapter", {"kmmreweightadapter__gamma": [None, 1e-3]}),
    "density reweighting": ("DensityReweightAdapter", {}),
    "OT mapping": ("OTMappingAdapter", {}),
    "JDOT": ("JDOTClassifier", {"jdotclassifier__alpha": [0.1, 1.0]}),
}

#: the deep methods (skada.deep factory, grid over the adaptation loss's weight)
DEEP: dict[str, tuple[str, dict[str, list[Any]]]] = {
    "deep source only": ("SourceOnly", {}),
    "DANN": ("DANN", {"domainawarenet__criterion__reg": [0.1, 1.0]}),
    "DeepCORAL": ("DeepCoral", {"domainawarenet__criterion__reg": [0.1, 1.0]}),
    "MCC": ("MCC", {"domainawarenet__criterion__reg": [0.1, 1.0]}),
}
#: epochs of every deep skada method (transferkit's adapt default is 10)
DEEP_EPOCHS = 20
HIDDEN = 256


def _feature_mlp() -> type:
    import torch

    class FeatureMLP(torch.nn.Module):
        """Features -> 256 ReLU units (``feature``, where the adaptation loss acts) -> logits."""

        def __init__(self, in_dim: int = 2, n_classes: int = 2) -> None:
            super().__init__()
            self.feature = torch.nn.Sequential(torch.nn.Linear(in_dim, HIDDEN), torch.nn.ReLU())
            self.dropout = torch.nn.Dropout(0.2)
            self.head = torch.nn.Linear(HIDDEN, n_classes)

        def forward(self, X: Any, sample_weight: Any = None) -> Any:  # noqa: N803 (skada's name)
            return self.head(self.dropout(self.feature(X)))

    return FeatureMLP


def _deep_pipeline(factory: str, in_dim: int, n_classes: int, seed: int) -> Any:
    import skada
    import skada.deep
    import torch
    from sklearn.preprocessing import FunctionTransformer, StandardScaler

    torch.manual_seed(seed)
    kwargs: dict[str, Any] = dict(max_epochs=DEEP_EPOCHS, batch_size=64, optimizer=torch.optim.Adam, lr=1e-3,
                                  train_split=None, verbose=0)
    module = _feature_mlp()(in_dim, n_classes)
    if factory == "SourceOnly":
        net = skada.deep.SourceOnly(module, **kwargs)
    else:
        extra = {"num_features": HIDDEN} if factory == "DANN" else {}
        net = getattr(skada.deep, factory)(module, layer_name="feature", **extra, **kwargs)
    to32 = FunctionTransformer(lambda a: np.asarray(a, dtype=np.float32))
    return skada.make_da_pipeline(StandardScaler(), to32, net)


def same_features(common: dict[str, Any], seed: int) -> dict[str, np.ndarray]:
    """Source train, unlabelled target and target test features of the adapt run of
    ``common`` + ``seed``, from transferkit's feature cache (computed there if missing)."""
    from transferkit.features import extract_features
    from transferkit.jobs.adapt.config import resolve_adapt_config
    from transferkit.jobs.adapt.data import load_data
    from transferkit.jobs.adapt.job import build_backbone

    cfg = resolve_adapt_config(**{k: v for k, v in common.items() if k != "method"}, seed=seed)
    data = load_data(cfg, lambda *_: None)
    backbone = build_backbone(cfg, data.source_train)

    def feats(ds: Any) -> np.ndarray:
        return np.asarray(extract_features(backbone, ds, cache_dir=cfg.cache_dir, progress=False), np.float64)

    return {"xs": feats(data.source_train), "ys": np.asarray(data.source_train.y),
            "xt": feats(data.target_unlabelled), "xtest": feats(data.target_test),
            "ytest": np.asarray(data.target_test.y)}


def _pipeline(adapter: str) -> Any:
    import skada
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    # reweighting adapters hand sample weights to the classifier (scikit-learn's metadata routing)
    lr = LogisticRegression(max_iter=1000).set_fit_request(sample_weight=True)
    if adapter == "JDOTClassifier":
        return skada.make_da_pipeline(StandardScaler(), skada.JDOTClassifier(base_estimator=lr))
    if not adapter:
        return skada.make_da_pipeline(StandardScaler(), lr)
    return skada.make_da_pipeline(StandardScaler(), getattr(skada, adapter)(), lr)


def _select(adapter: str, grid: dict[str, list[Any]], x: np.ndarray, y: np.ndarray, domain: np.ndarray,
            seed: int, deep: bool = False) -> tuple[Any, Any]:
    """The pipeline fitted with the parameters skada's grid search picks (label-free SND over
    source/target shuffle splits), and those parameters; a method with nothing to choose is
    fitted once."""
    from skada.metrics import SoftNeighborhoodDensity
    from skada.model_selection import SourceTargetShuffleSplit
    from sklearn.model_selection import GridSearchCV

    pipe = (_deep_pipeline(adapter, x.shape[1], int(y[y >= 0].max()) + 1, seed) if deep
            else _pipeline(adapter))
    if not grid:
        return pipe.fit(x, y, sample_domain=domain), "(nothing to choose)"
    search = GridSearchCV(pipe, grid, cv=SourceTargetShuffleSplit(n_splits=3, random_state=seed),
                          scoring=SoftNeighborhoodDensity(), error_score="raise", refit=True)
    search.fit(x, y, sample_domain=domain)
    return search.best_estimator_, {k.split("__", 1)[1]: v for k, v in search.best_params_.items()}


def run_skada(f: dict[str, np.ndarray], seed: int, methods: list[str] | None = None
              ) -> list[dict[str, Any]]:
    """One row per skada method: the chosen parameters, the target test accuracy, seconds."""
    from sklearn.metrics import accuracy_score, balanced_accuracy_score
    from sklearn.model_selection import StratifiedShuffleSplit

    xs, ys = f["xs"], f["ys"]
    if len(xs) > MAX_SOURCE:
        keep, _ = next(StratifiedShuffleSplit(1, train_size=MAX_SOURCE, random_state=seed).split(xs, ys))
        xs, ys = xs[keep], ys[keep]
    x = np.concatenate([xs, f["xt"]])
    y = np.concatenate([ys, -np.ones(len(f["xt"]), dtype=ys.dtype)])
    domain = np.concatenate([np.ones(len(xs), int), -2 * np.ones(len(f["xt"]), int)])
    rows = []
    for name in methods or [*GRIDS, *DEEP]:
        deep = name in DEEP
        adapter, grid = DEEP[name] if deep else GRIDS[name]
        t0 = time.perf_counter()
        try:
            pipe, chosen = _select(adapter, grid, x, y, domain, seed, deep=deep)
            pred = pipe.predict(f["xtest"], sample_domain=-2 * np.ones(len(f["xtest"]), int))
            row = {"method": f"skada {name}", "accuracy": float(accuracy_score(f["ytest"], pred)),
                   "balanced_accuracy": float(balanced_accuracy_score(f["ytest"], pred)), "chosen": chosen}
        except Exception as exc:  # a method that fails on these features is reported, not hidden
            row = {"method": f"skada {name}", "accuracy": None, "balanced_accuracy": None,
                   "chosen": f"failed: {type(exc).__name__}: {str(exc)[:120]}"}
        row.update(seed=seed, seconds=time.perf_counter() - t0, n_source=len(xs), n_target=len(f["xt"]))
        print(f"{row['method']:28s} seed {seed}: {row['accuracy']}  {row['chosen']}  "
              f"({row['seconds']:.1f} s)", flush=True)
        rows.append(row)
    return rows


def _fmt(v: list[float]) -> str:
    import statistics

    if not v:
        return "failed"
    return f"{statistics.fmean(v) * 100:.1f}" + (f" ± {statistics.stdev(v) * 100:.1f}" if len(v) > 1 else "")


def markdown(rows: list[dict[str, Any]]) -> list[str]:
    """The skada table: per method mean target test accuracy over seeds, chosen parameters."""
    import statistics

    by: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        by.setdefault(r["method"], []).append(r)
    lines = ["### skada 0.6 on the same features (peer)", "",
             f"Standardised features, `LogisticRegression(max_iter=1000)`, source subsampled to "
             f"{MAX_SOURCE} (stratified, per seed); each method's parameter chosen by skada's "
             "`GridSearchCV(cv=SourceTargetShuffleSplit(n_splits=3), scoring=SoftNeighborhoodDensity())` "
             "(label-free); target labels only score the chosen model. Deep methods (`skada[deep]`): "
             f"an MLP (standardised features -> {HIDDEN} ReLU units -> classes, the adaptation loss on "
             f"the {HIDDEN} units), Adam lr 1e-3, batch 64, {DEEP_EPOCHS} epochs; `reg` by the same "
             "search.", "",
             "| method | target test accuracy % | balanced acc. % | chosen (per seed) | s (median) |",
             "|---|---|---|---|---|"]
    for m, rs in by.items():
        acc = [r["accuracy"] for r in rs if r["accuracy"] is not None]
        bal = [r["balanced_accuracy"] for r in rs if r["balanced_accuracy"] is not None]
        lines.append(f"| {m} | {_fmt(acc)} | {_fmt(bal)} | {'; '.join(str(r['chosen']) for r in rs)} | "
                     f"{statistics.median(r['seconds'] for r in rs):.0f} |")
    scored = {m: statistics.fmean(r["accuracy"] for r in rs) for m, rs in by.items()
              if m not in ("skada source only", "skada deep source only")
              and all(r["accuracy"] is not None for r in rs)}
    if scored and "skada source only" in by:
        best = max(scored, key=scored.get)
        base = statistics.fmean(r["accuracy"] for r in by["skada source only"])
        lines += ["", f"Best skada method (same rule as transferkit's best: the highest mean adapted "
                  f"accuracy): **{best}**, {(scored[best] - base) * 100:+.1f} points over skada's "
                  f"source only ({base * 100:.1f} %)."]
    return lines + [""]
