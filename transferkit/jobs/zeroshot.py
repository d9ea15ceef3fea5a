"""The ``zeroshot`` job: classify images of classes never seen in training, by their names.

An image backbone (multi-scale features, as the linear probe uses them) and a text encoder
(the label space: each class name in ``template``, embedded and L2-normalised) are both
frozen; a method of :data:`~transferkit.zeroshot.ZSL_METHODS` maps images into the label
space from the seen classes' images, and the unseen classes are scored by their names.
The protocol, ZSL and GZSL metrics and calibrated stacking are in
:mod:`transferkit.zeroshot.protocol`.

>>> zeroshot(data="fashion-mnist", method="eszsl")["zsl_accuracy"]  # doctest: +SKIP
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from transferkit.errors import ConfigError
from transferkit.logs import library_log
from transferkit.options import Options, configure, option


@dataclass
class ZeroShotConfig(Options):
    """Settings of ``transferkit zeroshot``."""

    data: str | None = option(None, "An image dataset: a built-in (fashion-mnist, digits) or a folder.",
                              flag="--data")
    unseen_classes: list[str] = option(factory=list, help="Classes held out of training and "
                                       "classified by name (comma-separated; default: the built-in's "
                                       "fixed split).", flag="--unseen-classes")
    method: str = option("eszsl", "The map to the label space: eszsl, devise, conse, or random "
                         "(a control that learns nothing).", flag="--method")
    backbone: str = option("efficientnet_lite0", "The image backbone.", flag="--backbone")
    text_backbone: str = option("minilm", "The text encoder that embeds the class names.",
                                flag="--text-backbone")
    template: str = option("a photo of a {}.", "The sentence each class name is put into ('{}').",
                           flag="--template")
    per_class: int = option(500, "Training images per seen class, at most (drawn with --seed).",
                            flag="--per-class", ge=2)
    max_test: int | None = option(None, "Keep the first N test images.", flag="--max-test", ge=1)
    pool_stages: int | None = option(None, "Multi-scale image features (None: the backbone's "
                                     "default for a frozen backbone).", ge=0)
    seed: int = option(0, "Seed of the training sample, the held-out split and the methods.",
                       flag="--seed")
    method_params: dict[str, Any] = option(factory=dict, help="The method's own parameters "
                                           "(e.g. --set method_params.gamma=10).")
    cache_dir: str | None = option(None, "Feature cache folder (None: the default).")
    out: str | None = option(None, "Write the results here as zeroshot.json.", flag="--out")


def zeroshot(config: ZeroShotConfig | str | Path | None = None, *, overrides: Sequence[str] = (),
             log: Callable[[str], None] | None = None, **kwargs: Any) -> dict[str, Any]:
    """Run the seen/unseen protocol with one method and return (and with ``out`` write) the
    results: ZSL accuracy on the unseen classes, GZSL seen/unseen/H with calibrated stacking."""
    from transferkit.zeroshot import ZSL_METHODS
    from transferkit.zeroshot.protocol import evaluate, split_classes

    t0 = time.perf_counter()
    cfg = configure(ZeroShotConfig, config, overrides, **kwargs)
    log = log or library_log
    if not cfg.data:
        raise ConfigError("The 'data' parameter of zeroshot is required: e.g. --data fashion-mnist.")
    ZSL_METHODS.entry(cfg.method)  # an unknown name lists the known ones
    splits, entry = _load(cfg)
    classes = [str(c) for c in splits.train.classes]
    unseen_names = list(cfg.unseen_classes) or list(getattr(entry, "zero_shot_unseen", ()))
    if not unseen_names:
        raise ConfigError(f"The 'unseen_classes' parameter is required for '{cfg.data}': name the "
                          f"classes to hold out (comma-separated; classes: {', '.join(classes)}).")
    seen, unseen = split_classes(classes, unseen_names)
    words = dict(getattr(entry, "class_words", {}) or {})
    texts = [cfg.template.replace("{}", words.get(c, c)) for c in classes]
    embed, space = _label_space(cfg)
    features, raw, source = _image_features(cfg, splits, seen)
    space.source_probs, space.source_names = source
    s_all = embed(texts)
    log(f"[bold]zeroshot[/bold] {cfg.data}: seen {[classes[i] for i in seen]}, unseen "
        f"{[classes[i] for i in unseen]}; method {cfg.method}")
    result = evaluate(lambda: ZSL_METHODS.build(cfg.method, dict(cfg.method_params)), features["train"],
                      features["test"], seen, unseen, s_all, space, seed=cfg.seed)
    out = {"command": "zeroshot", "data": cfg.data, "method": cfg.method, "backbone": cfg.backbone,
           "text_backbone": cfg.text_backbone, "template": cfg.template,
           "seen": [classes[i] for i in seen], "unseen": [classes[i] for i in unseen],
           "class_texts": dict(zip(classes, texts, strict=True)),
           "labels_used": {"train_seen": result["n_train_seen"], "unseen": 0},
           **result, "feature_dim": int(raw.shape[1]), "seed": cfg.seed,
           "timings": {"total_s": round(time.perf_counter() - t0, 3)}}
    g = result["gzsl"]
    log(f"ZSL accuracy (unseen, per-class mean) {result['zsl_accuracy']:.4f} (chance "
        f"{result['zsl_chance']:.4f}); GZSL seen {g['acc_seen']:.4f} unseen {g['acc_unseen']:.4f} "
        f"H {g['h']:.4f} (calibrated stacking gamma {result['stacking']['gamma']:+.2f} sd)")
    if cfg.out:
        path = Path(cfg.out)
        path.mkdir(parents=True, exist_ok=True)
        (path / "zeroshot.json").write_text(json.dumps(out, indent=2), encoding="utf-8")
    return out


def _load(cfg: ZeroShotConfig) -> tuple[Any, Any]:
    from transferkit.data import DATASETS, load_splits
    from transferkit.data.file_check import check_cache_dir

    with check_cache_dir(cfg.cache_dir):  # image-file checks cached under --cache-dir
        splits = load_splits(str(cfg.data), max_test=cfg.max_test)
    rng, y = np.random.default_rng(cfg.seed), np.asarray(splits.train.y)
    keep = [rng.permutation(np.flatnonzero(y == c))[:cfg.per_class] for c in np.unique(y)]
    splits.train = splits.train.subset(np.sort(np.concatenate(keep)), split="train")  # at most per_class each
    if splits.train.modality != "image":
        raise ConfigError(f"zeroshot classifies images by their class names; '{cfg.data}' holds "
                          f"{splits.train.modality}. For texts use fit --shots 0.")
    entry = DATASETS.get(str(cfg.data)) if str(cfg.data) in DATASETS.names() else None
    return splits, entry


def _label_space(cfg: ZeroShotConfig) -> tuple[Callable[[list[str]], np.ndarray], Any]:
    import torch

    from transferkit.backbones import create_backbone
    from transferkit.zeroshot import LabelSpace

    text = create_backbone(cfg.text_backbone)
    if getattr(text, "modality", None) != "text":
        raise ConfigError(f"The 'text_backbone' parameter must name a text encoder (e.g. minilm). Got "
                          f"{cfg.text_backbone!r}, which reads {getattr(text, 'modality', '?')}.")
    text.eval()

    memo: dict[tuple[str, ...], np.ndarray] = {}  # ConSE embeds the same 1000 names in every fold

    @torch.no_grad()
    def embed(texts: list[str]) -> np.ndarray:
        key = tuple(texts)
        if key not in memo:
            out = [text(text.collate(texts[i:i + 128])).double().numpy() for i in range(0, len(texts), 128)]
            emb = np.concatenate(out)
            memo[key] = emb / np.clip(np.linalg.norm(emb, axis=1, keepdims=True), 1e-12, None)
        return memo[key].copy()

    return embed, LabelSpace(embed)


def _image_features(cfg: ZeroShotConfig, splits: Any, seen: np.ndarray
                    ) -> tuple[dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]], np.ndarray, Any]:
    """Standardised and raw features of the seen training images and of the test images,
    and the backbone's ImageNet probabilities (a function) and class names, if it has them."""
    import torch

    from transferkit.features import extract_features
    from transferkit.jobs.fit import resolve_config
    from transferkit.pipeline.build import build_backbone

    fit_cfg = resolve_config(data=cfg.data, backbone=cfg.backbone, strategy="linear-probe",
                             pool_stages=cfg.pool_stages)
    backbone = build_backbone(fit_cfg, splits.train)
    train = splits.train.subset(np.flatnonzero(np.isin(splits.train.y, seen)), split="train")
    raw_tr = extract_features(backbone, train, cache_dir=cfg.cache_dir, progress=False)
    raw_te = extract_features(backbone, splits.test, cache_dir=cfg.cache_dir, progress=False)
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
             "test": ((raw_te - mean) / std, raw_te, np.asarray(splits.test.y))}, raw_tr, source)


__all__ = ["ZeroShotConfig", "zeroshot"]
