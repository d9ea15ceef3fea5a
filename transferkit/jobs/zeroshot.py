"""The ``zeroshot`` job: classify images of classes never seen in training, by their names.

An image backbone (multi-scale features, as the linear probe uses them) and a text encoder
(the label space: each class name in several prompt templates, optionally with a one-line
description, :mod:`transferkit.zeroshot.labels`) are both frozen; a method of
:data:`~transferkit.zeroshot.ZSL_METHODS` maps images into the label space from the seen
classes' images -- its parameters, when not given, chosen by leave-classes-out over the
seen classes (:mod:`transferkit.zeroshot.select`) -- and the unseen classes are scored by
their names. The protocol, ZSL and GZSL metrics and calibrated stacking are in
:mod:`transferkit.zeroshot.protocol`. The job writes a normal run directory
(:class:`~transferkit.pipeline.run.Run`) whose model (:mod:`transferkit.zeroshot.model`)
predicts over the seen and unseen classes (and any further names in ``classes``), so
``predict``, ``evaluate``, ``serve`` and ``export`` read it.

>>> zeroshot(data="fashion-mnist", method="eszsl").summary["zeroshot"]["zsl_accuracy"]  # doctest: +SKIP
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from transferkit.config import DataConfig
from transferkit.errors import ConfigError
from transferkit.logs import library_log
from transferkit.options import Options, configure, option
from transferkit.zeroshot.labels import TEMPLATES

#: keyword shortcuts of :func:`zeroshot` (``zeroshot(data="digits", max_test=100)``)
SHORTCUTS = {"data": "data.data", "max_test": "data.max_test", "seed": "data.seed"}


@dataclass
class ZeroShotConfig(Options):
    """Settings of ``transferkit zeroshot``."""

    data: DataConfig = option(factory=DataConfig, help="The image data (a built-in: fashion-mnist, "
                              "digits; or a folder) and how it is split; data.seed seeds the "
                              "training sample, the held-out split and the methods.")
    unseen_classes: list[str] = option(factory=list, help="Classes held out of training and "
                                       "classified by name (comma-separated; default: the built-in's "
                                       "fixed split).", flag="--unseen-classes")
    classes: list[str] = option(factory=list, help="The class names the saved run predicts over "
                                "(comma-separated; default: the data's classes). Names the data "
                                "lacks are scored by name only, like the unseen classes.", flag="--classes")
    class_descriptions: str | None = option(None, "A text file of 'name: description' lines, one "
                                            "per class: each description is embedded beside the "
                                            "templated name.", flag="--class-descriptions")
    method: str = option("eszsl", "The map to the label space: eszsl, devise, conse, or random "
                         "(a control that learns nothing).", flag="--method")
    backbone: str = option("efficientnet_lite0", "The image backbone.", flag="--backbone")
    text_backbone: str = option("minilm", "The text encoder that embeds the class names: a text "
                                "backbone (minilm, hf:...), or 'wordllama' (the wordllama package's "
                                "static 256-d token embeddings, offline; transferkit[zeroshot]).",
                                flag="--text-backbone")
    templates: list[str] = option(factory=lambda: list(TEMPLATES), help="Sentences each class name "
                                  "is put into ('{}'; comma-separated); their embeddings are averaged.",
                                  flag="--templates")
    per_class: int = option(500, "Training images per seen class, at most (drawn with data.seed).",
                            flag="--per-class", ge=2)
    pool_stages: int | None = option(None, "Multi-scale image features (None: the backbone's "
                                     "default for a frozen backbone).", ge=0)
    method_params: dict[str, Any] = option(factory=dict, help="The method's own parameters "
                                           "(e.g. --set method_params.gamma=10); none given: the "
                                           "method's grid is searched by leave-classes-out on the "
                                           "seen classes.")
    transductive: bool = option(False, "Read the unlabelled test images (never their labels) and refit "
                                "the map by self-training on its most confident unseen-class "
                                "assignments, 5 rounds on a fixed schedule (transferkit.zeroshot.protocol).",
                                flag="--transductive")
    ood_level: float = option(0.05, "The share of in-distribution images the saved run flags as out of "
                              "distribution (a conformal p-value of their feature-space distance <= "
                              "this level; see transferkit.novelty).", flag="--ood-level", gt=0, lt=1)
    cache_dir: str | None = option(None, "Feature cache folder (None: the default).")
    out: str | None = option(None, "Run directory (default runs/<name>).", flag="--out")
    name: str | None = option(None, "Run name (default derived from data, method and time).",
                              flag="--name")


def zeroshot(config: ZeroShotConfig | str | Path | None = None, *, overrides: Sequence[str] = (),
             log: Callable[[str], None] | None = None, overwrite: bool = False, **kwargs: Any) -> Any:
    """Run the seen/unseen protocol with one method and write a run directory; returns its
    :class:`~transferkit.pipeline.run.RunResult` (``summary["zeroshot"]``: ZSL accuracy on the
    unseen classes, GZSL seen/unseen/H with calibrated stacking, the parameters chosen)."""
    from transferkit.pipeline.run import Run, default_run_name
    from transferkit.zeroshot import ZSL_METHODS
    from transferkit.zeroshot.protocol import split_classes

    t0 = time.perf_counter()
    cfg = configure(ZeroShotConfig, config, overrides, shortcuts=SHORTCUTS, **kwargs)
    log = log or library_log
    if not cfg.data.data:
        raise ConfigError("The 'data' parameter of zeroshot is required: e.g. --data fashion-mnist.")
    ZSL_METHODS.entry(cfg.method)  # an unknown name lists the known ones
    run = Run("zeroshot", out=cfg.out, name=cfg.name, overwrite=overwrite,
              default_name=default_run_name(cfg.data.data, "zeroshot", cfg.method))
    run.check()  # before any work: an existing run is refused now, not after the features
    splits, entry = _load(cfg)
    classes = [str(c) for c in splits.train.classes]
    unseen_names = list(cfg.unseen_classes) or list(getattr(entry, "zero_shot_unseen", ()))
    if not unseen_names:
        raise ConfigError(f"The 'unseen_classes' parameter is required for '{cfg.data.data}': name the "
                          f"classes to hold out (comma-separated; classes: {', '.join(classes)}).")
    seen, unseen = split_classes(classes, unseen_names)
    predict_classes = list(dict.fromkeys([str(c) for c in cfg.classes] or classes))
    with run:
        run.write_config(cfg)
        run.fingerprint_splits(splits)  # the splits as loaded (evaluate rebuilds them)
        splits.train = _sample(splits.train, cfg.per_class, cfg.data.seed)
        fitted = _fit(cfg, splits, entry, classes, seen, unseen, predict_classes, log)
        return _write(run, cfg, splits, fitted, classes, seen, unseen, predict_classes, t0, log)


def _fit(cfg: ZeroShotConfig, splits: Any, entry: Any, classes: list[str], seen: np.ndarray,
         unseen: np.ndarray, predict_classes: list[str], log: Callable[[str], None]) -> dict[str, Any]:
    """Features, label embeddings, parameter selection, the protocol's metrics and the final
    method (``result["model"]``)."""
    from transferkit.zeroshot import ZSL_METHODS
    from transferkit.zeroshot.labels import embed_classes
    from transferkit.zeroshot.protocol import evaluate
    from transferkit.zeroshot.select import leave_classes_out

    descriptions = _descriptions(cfg, entry, predict_classes)
    embed, space = _label_space(cfg)
    features, stats, backbone, source = _image_features(cfg, splits, seen)
    space.source_probs, space.source_names = source
    words = dict(getattr(entry, "class_words", {}) or {})  # e.g. digits: "5" -> "five"
    s_pred = embed_classes(embed, [words.get(c, c) for c in predict_classes], cfg.templates, descriptions)
    index = {c: i for i, c in enumerate(predict_classes)}
    s_all = np.stack([s_pred[index[c]] if c in index else embed_classes(
        embed, [words.get(c, c)], cfg.templates, None)[0] for c in classes])
    log(f"[bold]zeroshot[/bold] {cfg.data.data}: seen {[classes[i] for i in seen]}, unseen "
        f"{[classes[i] for i in unseen]}; method {cfg.method}, {len(cfg.templates)} template(s)"
        + (", with descriptions" if descriptions else ""))
    params, selection = dict(cfg.method_params), None
    grid = ZSL_METHODS.entry(cfg.method).obj.grid
    if not params and grid:
        x, raw, y = features["train"]
        selection = leave_classes_out(lambda p: ZSL_METHODS.build(cfg.method, p), grid, x, raw, y, seen,
                                      s_all, space, seed=cfg.data.seed)
        params = selection["params"]
        log(f"  {cfg.method} parameters {params} chosen by leave-classes-out on the seen classes "
            f"(pseudo-unseen ZSL accuracy {selection['score']:.4f})")
    result = evaluate(lambda: ZSL_METHODS.build(cfg.method, params), features["train"], features["test"],
                      seen, unseen, s_all, space, seed=cfg.data.seed, transductive=cfg.transductive)
    if result["self_training"]:
        added = [sum(r["pseudo_labelled"].values()) for r in result["self_training"]["rounds"]]
        log(f"  transductive self-training on {result['self_training']['pool']} unlabelled test images: "
            f"{', '.join(map(str, added))} pseudo-labelled over {len(added)} rounds (labels unread)")
    return {**result, "params": params, "selection": selection, "s_all": s_all, "s_pred": s_pred, "words": words,
            "stats": stats, "backbone": backbone, "descriptions": descriptions,
            "test_raw": features["test"][1], "train_raw": features["train"][1], "train_y": features["train"][2]}


def _write(run: Any, cfg: ZeroShotConfig, splits: Any, fitted: dict[str, Any], classes: list[str],
           seen: np.ndarray, unseen: np.ndarray, predict_classes: list[str], t0: float,
           log: Callable[[str], None]) -> Any:
    """The run's model (a linear map), test metrics of the saved model, summary; finished."""
    import copy

    import torch

    from transferkit.pipeline.run import RunResult, Summary
    from transferkit.tasks import get_task
    from transferkit.zeroshot.model import zeroshot_model

    method, task = fitted["model"], get_task("classification")
    s_pred = fitted["s_pred"]
    if method.centre_labels:  # the label space the map was fitted in: centred on the seen classes
        s_pred = s_pred - fitted["s_all"][seen].mean(axis=0)
        s_pred = s_pred / np.clip(np.linalg.norm(s_pred, axis=1, keepdims=True), 1e-12, None)
    seen_names = {classes[i] for i in seen}
    train = copy.copy(splits.train)
    train.classes = predict_classes  # what the run predicts over (transferkit.json's classes)
    metrics: dict[str, Any] = {}
    warnings: list[str] = []
    model, novelty = None, None
    if method.linear_map() is not None:
        model = zeroshot_model(fitted["backbone"], task, method, *fitted["stats"], s_pred,
                               [c in seen_names for c in predict_classes],
                               fitted["stacking"]["gamma_scores"], fitted["score_scale"])
        with torch.no_grad():
            logits = model.forward_features(torch.as_tensor(fitted["test_raw"], dtype=torch.float32)).numpy()
        if set(classes) <= set(predict_classes):
            remap = np.array([predict_classes.index(c) for c in classes])
            metrics["test"] = task.metrics(remap[np.asarray(splits.test.y)], logits,
                                           {"classes": predict_classes})
        from types import SimpleNamespace

        shown = SimpleNamespace(mapping="linear", data=cfg.data)  # what transferkit.json records
        novelty = _novelty(run, cfg, fitted, splits, seen, unseen, log)
        run.save_model(model, task, train, shown, extra={"novelty": novelty, "zeroshot": {
            "method": cfg.method, "seen": sorted(seen_names),
            "unseen": [c for c in predict_classes if c not in seen_names]}})
    else:
        warnings.append(f"{cfg.method} is not one linear map: this run records its metrics but "
                        "holds no model to predict with (use --method eszsl or devise for one).")
    section = _section(cfg, fitted, classes, seen, unseen, predict_classes)
    if model is not None:
        section["novelty"] = novelty
    metrics["zeroshot"] = {"zsl_accuracy": section["zsl_accuracy"], **section["gzsl"]}
    chance = chance_warning(section, int(np.isin(np.asarray(splits.test.y), unseen).sum()))
    if chance:
        warnings.append(chance)
    labels_used = {"train": int(fitted["n_train_seen"]), "val": 0, "unseen": 0}
    if section["self_training"]:  # the last round's pseudo-labels (test images; their labels unread)
        labels_used["pseudo_labelled_test_images"] = sum(section["self_training"]["rounds"][-1]
                                                         ["pseudo_labelled"].values())
    summary = Summary(
        task=task.name, command="zeroshot", data=splits.describe(), backbone=cfg.backbone,
        strategy=f"zeroshot-{cfg.method}", choice=f"method '{cfg.method}' was given"
        + (f"; its parameters {fitted['params']} chosen by leave-classes-out on the seen classes"
           if fitted["selection"] else ""),
        metrics=metrics, baselines={}, transfer_gain=None,
        selection={"split": "seen classes only", "validator": "leave-classes-out",
                   "stacking": {k: v for k, v in fitted["stacking"].items() if k != "folds"}},
        timings={"total_s": round(time.perf_counter() - t0, 3)}, warnings=warnings,
        labels_used=labels_used, zeroshot=section)
    g = section["gzsl"]
    log(f"ZSL accuracy (unseen, per-class mean) {section['zsl_accuracy']:.4f} (chance "
        f"{section['zsl_chance']:.4f}); GZSL seen {g['acc_seen']:.4f} unseen {g['acc_unseen']:.4f} "
        f"H {g['h']:.4f} (calibrated stacking gamma {fitted['stacking']['gamma']:+.2f} sd)")
    if chance:
        log(f"[yellow]warning[/yellow] {chance}")
    data = run.finish(summary)
    log(f"run written to {run.dir}")
    return RunResult(run.dir, data, model)


def _novelty(run: Any, cfg: ZeroShotConfig, fitted: dict[str, Any], splits: Any, seen: np.ndarray,
             unseen: np.ndarray, log: Callable[[str], None]) -> dict[str, Any]:
    """Fit the run's novelty detector (:mod:`transferkit.novelty`) on the seen training
    images' features -- the Gaussian on the fitting part of each seen class, the conformal
    scores on its held-out part (the split calibrated stacking uses) -- and write it; returns
    transferkit.json's ``novelty`` entry, with the shares of test images it flags (a
    diagnostic: the level is given, nothing is chosen on them)."""
    from transferkit.novelty import FILE, NoveltyDetector
    from transferkit.zeroshot.protocol import held_out_split

    raw, y = fitted["train_raw"], fitted["train_y"]
    fit, held = held_out_split(y, cfg.data.seed)
    detector = NoveltyDetector(cfg.ood_level).fit(raw[fit], raw[held])
    info = detector.save(run.path(FILE))
    y_test, flags = np.asarray(splits.test.y), detector.flags(fitted["test_raw"])
    share = lambda rows: float(flags[rows].mean()) if rows.any() else float("nan")  # noqa: E731
    info["flagged"] = {"level": cfg.ood_level, "seen_test": share(np.isin(y_test, seen)),
                       "unseen_test": share(np.isin(y_test, unseen)), "n_test": int(len(y_test))}
    log(f"  out-of-distribution flag at level {cfg.ood_level:g} ({len(held)} held-out seen images "
        f"calibrate it): flags {info['flagged']['seen_test']:.1%} of the seen classes' test images and "
        f"{info['flagged']['unseen_test']:.1%} of the unseen classes'")
    if not info["can_flag"]:
        log(f"[yellow]warning[/yellow] {len(held)} held-out images cannot reach a p-value <= "
            f"{cfg.ood_level:g}: nothing will be flagged. Use more --per-class images or a larger --ood-level.")
    return info


def chance_warning(section: dict[str, Any], n_unseen: int) -> str | None:
    """A warning when the unseen-class accuracy is not above chance: a one-sided binomial test
    of ``zsl_accuracy * n_unseen`` correct among the ``n_unseen`` unseen test images against
    ``zsl_chance`` (level 0.05); None when it is above."""
    from scipy.stats import binomtest

    acc, chance = float(section["zsl_accuracy"]), float(section["zsl_chance"])
    if n_unseen <= 0:
        return None
    p = binomtest(int(round(acc * n_unseen)), n_unseen, chance, alternative="greater").pvalue
    if p < 0.05:
        return None
    return (f"zero-shot accuracy on the unseen classes is not above chance ({acc:.1%} vs {chance:.1%}, "
            f"one-sided binomial p = {p:.3g}, {n_unseen} unseen test images): the map does not carry "
            "these class names to their images. One-line --class-descriptions usually say more than "
            "names; `transferkit fit --shots K` with a few labels per class is the alternative.")


def _section(cfg: ZeroShotConfig, fitted: dict[str, Any], classes: list[str], seen: np.ndarray,
             unseen: np.ndarray, predict_classes: list[str]) -> dict[str, Any]:
    """summary.json's ``zeroshot`` section."""
    from transferkit.zeroshot.labels import class_texts

    keep = ("zsl_accuracy", "zsl_chance", "gzsl", "gzsl_no_stacking", "stacking", "n_train_seen", "n_test")
    desc = dict(zip(predict_classes, fitted["descriptions"] or [None] * len(predict_classes), strict=True))
    return {"method": cfg.method, "params": fitted["params"], "selection": fitted["selection"],
            "text_backbone": cfg.text_backbone, "templates": list(cfg.templates),
            "seen": [classes[i] for i in seen], "unseen": [classes[i] for i in unseen],
            "predict_classes": predict_classes,
            "class_texts": {c: class_texts(fitted["words"].get(c, c), cfg.templates, desc.get(c))
                            for c in predict_classes},
            **{k: fitted[k] for k in keep}, "self_training": _named_rounds(fitted["self_training"], classes)}


def _named_rounds(info: dict[str, Any] | None, classes: list[str]) -> dict[str, Any] | None:
    """The self-training record with class names for the protocol's class indices."""
    if info is None:
        return None
    return {**info, "rounds": [{**r, "pseudo_labelled": {classes[int(k)]: v for k, v in r["pseudo_labelled"].items()}}
                               for r in info["rounds"]]}


def _sample(train: Any, per_class: int, seed: int) -> Any:
    """At most ``per_class`` training images of each class, drawn with ``seed``."""
    rng, y = np.random.default_rng(seed), np.asarray(train.y)
    keep = [rng.permutation(np.flatnonzero(y == c))[:per_class] for c in np.unique(y)]
    return train.subset(np.sort(np.concatenate(keep)), split="train")


def _load(cfg: ZeroShotConfig) -> tuple[Any, Any]:
    from transferkit.data import DATASETS, load_splits
    from transferkit.data.file_check import check_cache_dir

    with check_cache_dir(cfg.cache_dir):  # image-file checks cached under --cache-dir
        splits = load_splits(cfg.data)
    if splits.train.modality != "image":
        raise ConfigError(f"zeroshot classifies images by their class names; '{cfg.data.data}' holds "
                          f"{splits.train.modality}. For texts use fit --shots 0.")
    name = str(cfg.data.data)
    return splits, (DATASETS.get(name) if name in DATASETS.names() else None)


def _descriptions(cfg: ZeroShotConfig, entry: Any, classes: list[str]) -> list[str] | None:
    """One description per class from ``class_descriptions`` (None: names only)."""
    if not cfg.class_descriptions:
        return None
    from transferkit.tasks._prototypes import read_descriptions

    return read_descriptions(cfg.class_descriptions, classes)


def wordllama_encoder() -> Callable[[list[str]], np.ndarray]:
    """The wordllama package's bundled static embeddings (``l2_supercat``, 256-d: token
    embeddings distilled from large language models' input embeddings, averaged over a text),
    loaded from the package's own folder with downloads disabled; raw, not normalised."""
    try:
        import wordllama
        from wordllama import WordLlama
    except ImportError as exc:
        raise ConfigError("text_backbone='wordllama' needs the wordllama package: pip install "
                          "'transferkit[zeroshot]' (or pip install wordllama), or use "
                          "--text-backbone minilm.") from exc
    model = WordLlama.load(cache_dir=Path(wordllama.__file__).parent, disable_download=True)
    return lambda texts: np.asarray(model.embed(list(texts)), dtype=np.float64)


def _label_space(cfg: ZeroShotConfig) -> tuple[Callable[[list[str]], np.ndarray], Any]:
    import torch

    from transferkit.backbones import create_backbone
    from transferkit.zeroshot import LabelSpace

    raw: Callable[[list[str]], np.ndarray]
    if cfg.text_backbone == "wordllama":
        raw = wordllama_encoder()
    else:
        text = create_backbone(cfg.text_backbone)
        if getattr(text, "modality", None) != "text":
            raise ConfigError(f"The 'text_backbone' parameter must name a text encoder (e.g. minilm). Got "
                              f"{cfg.text_backbone!r}, which reads {getattr(text, 'modality', '?')}.")
        text.eval()

        @torch.no_grad()
        def raw(texts: list[str]) -> np.ndarray:
            return np.concatenate([text(text.collate(texts[i:i + 128])).double().numpy()
                                   for i in range(0, len(texts), 128)])

    memo: dict[tuple[str, ...], np.ndarray] = {}  # ConSE embeds the same 1000 names in every fold

    def embed(texts: list[str]) -> np.ndarray:
        key = tuple(texts)
        if key not in memo:
            emb = raw(list(texts))
            memo[key] = emb / np.clip(np.linalg.norm(emb, axis=1, keepdims=True), 1e-12, None)
        return memo[key].copy()

    return embed, LabelSpace(embed)


def _image_features(cfg: ZeroShotConfig, splits: Any, seen: np.ndarray) -> tuple[Any, Any, Any, Any]:
    """Standardised and raw features of the seen training images and of the test images,
    the standardisation (mean, std), the backbone, and the backbone's ImageNet probabilities
    (a function) and class names, if it has them."""
    import torch

    from transferkit.features import extract_features
    from transferkit.jobs.fit import resolve_config
    from transferkit.pipeline.build import build_backbone

    fit_cfg = resolve_config(data=cfg.data.data, backbone=cfg.backbone, strategy="linear-probe",
                             pool_stages=cfg.pool_stages)
    backbone = build_backbone(fit_cfg, splits.train)
    train = splits.train.subset(np.flatnonzero(np.isin(splits.train.y, seen)), split="train")
    raw_tr = extract_features(backbone, train, cache_dir=cfg.cache_dir, progress=False)
    raw_te = extract_features(backbone, splits.test, cache_dir=cfg.cache_dir, progress=False)
    raw_tr, raw_te = raw_tr.astype(np.float64), raw_te.astype(np.float64)
    mean, std = raw_tr.mean(axis=0), raw_tr.std(axis=0) + 1e-6  # seen training images only
    head = getattr(backbone, "source_head", None)
    base = int(getattr(backbone, "base_dim", raw_tr.shape[1]))

    @torch.no_grad()
    def probs(raw: np.ndarray) -> np.ndarray:
        logits = head(torch.from_numpy(np.array(raw[:, :base], dtype=np.float32)))  # a writable copy
        return torch.softmax(logits.double(), dim=1).numpy()

    names = getattr(backbone, "source_classes", None)
    source = (probs, list(names)) if head is not None and names else (None, None)
    return ({"train": ((raw_tr - mean) / std, raw_tr, np.asarray(train.y)),
             "test": ((raw_te - mean) / std, raw_te, np.asarray(splits.test.y))}, (mean, std), backbone, source)


__all__ = ["ZeroShotConfig", "chance_warning", "zeroshot"]
