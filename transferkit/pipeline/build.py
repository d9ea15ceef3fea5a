"""Building models: backbone (with its data-fitted preprocessing) -> mapping phi -> the
task's head, for a fresh fit and for a saved run directory."""

from __future__ import annotations

import hashlib
import math
from pathlib import Path
from typing import Any

from transferkit.config import BackboneConfig, FitConfig
from transferkit.errors import ConfigError, RunDirError, TransferkitError
from transferkit.model import TransferModel
from transferkit.rundir import MANIFEST, WEIGHTS, check_weights_file
from transferkit.tasks import Task, get_task


def strategy_freezes_backbone(strategy: str) -> bool:
    """Whether the strategy named ``strategy`` never trains the backbone (asks the entry)."""
    from transferkit.strategies import STRATEGIES

    return bool(getattr(STRATEGIES.get(strategy), "frozen_backbone", False))


#: the strategy a fit uses when none is named, by whether the backbone starts pretrained: a
#: probe of pretrained features, or end-to-end training of a backbone that starts from random
#: weights, every layer at the head's rate (a probe of random features is a weak model: WDBC,
#: tabular MLP, 86.7 % probed vs 98.2 % for logistic regression; full at the default 0.1
#: backbone rate 89.4 %, at 1.0 95.6 %)
DEFAULT_STRATEGY: dict[bool, tuple[str, dict[str, Any]]] = {
    True: ("linear-probe", {}), False: ("full", {"backbone_lr_ratio": 1.0})}


def _fixed_features(backbone: str) -> str:
    """Why a backbone family's features need no training (its ``fixed_features``), or ""."""
    from transferkit.backbones import family_of

    return str(getattr(family_of(backbone), "fixed_features", "") or "")


def model_label(backbone: Any, pretrained: bool = True, weights: str | None = None) -> str:
    """What the results table calls a fitted model: ``"transferred"`` only when its backbone
    started from learned weights (pretrained, a weight file or a run directory); a backbone
    whose features are a fixed function (``fixed_features`` or ``transfers_weights = False``:
    ``lags``, ``minirocket``) or one that starts from random init transferred nothing, and
    its row says so.

    >>> model_label("lags"), model_label("sequence:cnn")
    ('fixed features (nothing transferred)', 'random init (nothing transferred)')
    """
    from transferkit.backbones import starts_pretrained

    if not isinstance(backbone, (str, Path)) or not str(backbone).strip():
        return "transferred"  # an older or partial summary: the old wording
    from transferkit.backbones import BACKBONES, resolve

    try:
        family = BACKBONES.get(resolve(str(backbone).strip())[0])
    except TransferkitError:
        return "transferred"
    if _fixed_features(str(backbone)) or not getattr(family, "transfers_weights", True):
        return "fixed features (nothing transferred)"  # lags, MiniRocket: nothing learned elsewhere
    try:
        start = starts_pretrained(backbone, pretrained, weights)
    except TransferkitError:
        return "transferred"
    return "transferred" if start else "random init (nothing transferred)"


def run_model_label(summary: dict[str, Any], run_dir: str | Path | None = None) -> str:
    """:func:`model_label` of a finished run: its summary's backbone, and whether random init
    or a weight file was asked for from its config.yaml (when ``run_dir`` has one)."""
    from transferkit.options import read_yaml
    from transferkit.rundir import CONFIG

    backbone: Any = {}
    config = Path(run_dir) / CONFIG if run_dir is not None else None
    if config is not None and config.is_file():
        try:
            backbone = (read_yaml(config) or {}).get("backbone") or {}
        except (TransferkitError, OSError, ValueError, AttributeError):  # the name alone decides
            backbone = {}
    backbone = backbone if isinstance(backbone, dict) else {}
    return model_label(summary.get("backbone") if isinstance(summary, dict) else None,
                       backbone.get("pretrained", True) is not False, backbone.get("weights"))


def default_strategy(backbone: str, pretrained: bool = True, weights: str | None = None
                     ) -> tuple[str, dict[str, Any], str]:
    """(strategy, its parameters, why) for a fit that names no strategy: see
    :data:`DEFAULT_STRATEGY`."""
    from transferkit.backbones import starts_pretrained

    start = starts_pretrained(backbone, pretrained, weights)
    name, params = DEFAULT_STRATEGY[start]
    fixed = _fixed_features(backbone)  # e.g. lags: nothing in it trains, nothing pretrained either
    if fixed and start:
        return name, dict(params), f"backbone '{backbone}' {fixed}: a probe of its features"
    if start:
        return name, dict(params), (f"backbone '{backbone}' has pretrained weights: a probe of its "
                                    "frozen features first")
    why = "was asked for random init (--no-pretrained)" if not pretrained else "has no pretrained weights"
    return name, dict(params), (f"backbone '{backbone}' {why}: a probe would learn on random features, "
                                "so every layer trains end to end at the head's learning rate")


def apply_pool_stages(backbone: Any, pool_stages: int | None, strategy: str) -> int:
    """Set ``backbone.pool_stages`` (multi-scale features); ``None`` picks the default: the
    backbone family's ``default_pool_stages`` (timm: the last 4 stages; text: the 2 layers
    below the last) when the strategy keeps the backbone frozen (the linear probe), else 0.
    Returns the value set."""
    limit = backbone.max_pool_stages() if callable(getattr(backbone, "max_pool_stages", None)) else 0
    if pool_stages is None:
        if not strategy_freezes_backbone(strategy):
            return 0
        pool_stages = min(int(getattr(backbone, "default_pool_stages", 0)), limit)
    elif pool_stages and not limit:
        raise ConfigError(f"The 'backbone.pool_stages' parameter needs an image or text backbone with a "
                          f"known stage layout; {getattr(backbone, 'name', type(backbone).__name__)} has "
                          "none. Set it to 0 (or leave it unset).")
    if pool_stages or getattr(backbone, "pool_stages", 0):
        backbone.set_pool_stages(int(pool_stages))
    return int(pool_stages)


#: images whose longer side is below this are resized to a size chosen for them, not
#: upscaled to the backbone's pretraining resolution (224 px and more)
SMALL_IMAGE = 192
#: the smallest resolution chosen for small images (the stems of ImageNet backbones shrink
#: a 64-px input to 2x2 at the last stage; V1 measured 64 px at 74 % vs 71 % at 224 px for
#: 28-px Fashion-MNIST, at a twelfth of the compute)
MIN_RESOLUTION = 64


#: the total stride of the image backbones' last stage: a random-init network's input is the
#: native size rounded up to it, so every stage's grid is whole
STRIDE = 32


def data_resolution(data: Any, pretrained: bool = True) -> int | None:
    """The input resolution chosen for an image dataset when ``--image-size`` is not given.

    A pretrained backbone: None (the backbone's own) for images of at least ``SMALL_IMAGE``
    px, else the native size rounded up to a multiple of 32, at least ``MIN_RESOLUTION``
    (25 px -> 64, 100 px -> 128). Upscaling 25-px images to 224 px costs 12x the compute and
    memory for no information (a 200-image folder peaked at 9.3 GB under ``--strategy auto``).

    A backbone from random init (``--no-pretrained``, ``pretrain --arch resnet18``): the
    data's native size (its longer side) rounded up to a multiple of :data:`STRIDE`, at any
    size -- no pretraining resolution to match, so upsampling only adds compute (28-px
    Fashion-MNIST: 32 px, 1/49 of the pixels of 224 px)."""
    from transferkit.data.images import native_size

    if getattr(data, "modality", None) != "image" or not len(data):
        return None
    side = max(native_size(data))
    if not pretrained:
        return STRIDE * max(1, math.ceil(side / STRIDE))
    if side >= SMALL_IMAGE:
        return None
    return max(MIN_RESOLUTION, 32 * math.ceil(side / 32))


def check_modality(name: str, backbone: Any, train_data: Any) -> None:
    """Refuse a backbone that reads another kind of input than the data holds (e.g. the
    default image backbone on a table), naming backbones that read the data."""
    from transferkit.pipeline.candidates import DEFAULT_POOL

    have, reads = getattr(train_data, "modality", None), getattr(backbone, "modality", "")
    if not have or not reads or have == reads:
        return
    fits = ", ".join(DEFAULT_POOL.get(have, ())) or "see `transferkit models`"
    default = " (the default backbone)" if name == BackboneConfig().name else ""
    raise ConfigError(f"The backbone '{name}'{default} reads {reads} data, but the data holds {have} "
                      f"data. Give a backbone that reads it: --backbone {fits.split(', ')[0]} "
                      f"(backbones for {have} data: {fits}; `transferkit models` lists them all).")


def build_backbone(cfg: FitConfig, train_data: Any, pretrained: bool | None = None) -> Any:
    """The configured backbone, fitted to the training data (input adapter, preprocessing,
    pooled stages)."""
    from transferkit.backbones import create_backbone, starts_pretrained
    from transferkit.backbones.adapted_table import adapt_backbone

    weights = cfg.backbone.weights if pretrained is not False else None
    pretrained = cfg.backbone.pretrained if pretrained is None else pretrained
    backbone = create_backbone(
        cfg.backbone.name, weights=weights, pretrained=pretrained,
        image_size=cfg.backbone.image_size or data_resolution(
            train_data, starts_pretrained(cfg.backbone.name, pretrained, weights)),
        max_length=cfg.backbone.max_length,
    )
    check_modality(cfg.backbone.name, backbone, train_data)
    backbone = adapt_backbone(backbone, train_data)  # input adapter for other table columns
    backbone.adapt_to(train_data)
    apply_pool_stages(backbone, cfg.backbone.pool_stages, cfg.strategy)
    return backbone


def build_model(cfg: FitConfig, train_data: Any, task: Task | None = None,
                pretrained: bool | None = None, backbone: Any = None) -> TransferModel:
    """Backbone, mapping phi and a fresh head shaped by the task for ``train_data``."""
    from transferkit.mapping import MAPPINGS

    task = task or get_task()
    task.fit_targets(train_data)
    backbone = task.prepare_backbone(backbone if backbone is not None
                                     else build_backbone(cfg, train_data, pretrained))
    mapping = MAPPINGS.build("identity" if cfg.mapping == "auto" else cfg.mapping,
                              in_dim=backbone.feature_dim)
    model = new_model(backbone, task, task.output_dim(train_data), mapping, cfg.train.head_dropout)
    model.source_head = source_head(cfg, model, task, train_data) if pretrained is not False else None
    if (model.source_head or {}).get("kept"):
        return model  # the source run's head is the start; no other initialiser overwrites it
    if task.init_head(model, train_data) is None and not len(train_data):
        raise ConfigError(f"--shots 0 needs a head that is built without labels, and the {task.name} "
                          f"task with backbone '{cfg.backbone.name}' has none. Zero-shot text "
                          "classification embeds the class names with a text backbone (--task "
                          "classification --backbone minilm); otherwise pass --shots 1 or more.")
    return model


def source_head(cfg: FitConfig, model: TransferModel, task: Task, train_data: Any) -> dict[str, Any] | None:
    """With a run directory as ``--backbone``: copy the run's head into ``model`` when
    ``backbone.keep_head`` (unset: the task's :attr:`~transferkit.tasks.Task.keeps_source_head`)
    and the run's task and classes are the target's and every head tensor has the same shape
    (the seed's pattern: train on one domain, fine-tune on another with the same classes). Returns what
    ``summary.json`` records under ``source_head`` (``kept``, and why not when not), or None
    when the backbone is not a run directory."""
    from safetensors import safe_open
    from torch import nn

    from transferkit.backbones import resolve
    from transferkit.mapping.identity import IdentityMapping
    from transferkit.rundir import read_manifest

    family, spec = resolve(str(cfg.backbone.name).strip())
    if family != "run":
        return None
    run = Path(spec).expanduser()
    manifest = read_manifest(run)
    info: dict[str, Any] = {"run": str(run), "kept": False}
    classes = [str(c) for c in getattr(train_data, "classes", None) or []]
    theirs = [str(c) for c in manifest.get("classes") or []]
    keep = task.keeps_source_head if cfg.backbone.keep_head is None else cfg.backbone.keep_head
    if not keep:
        info["why_not"] = ("backbone.keep_head is false" if cfg.backbone.keep_head is False else
                           f"the {task.name} task starts a fresh head (--set backbone.keep_head=true keeps it)")
    elif (manifest.get("task") or "classification") != task.name:
        info["why_not"] = f"the run's task is {manifest.get('task')!r}, the target's {task.name!r}"
    elif not classes or classes != theirs:
        info["why_not"] = "the run's classes are not the target's (same names in the same order)"
    elif (manifest.get("mapping") or {"name": "identity"}).get("name") != "identity" or \
            not isinstance(model.mapping, (IdentityMapping, nn.Identity)):
        info["why_not"] = "a mapping sits between backbone and head"
    else:
        own = {k: v for k, v in model.state_dict().items() if k.startswith("head.")}
        with safe_open(str(check_weights_file(run / WEIGHTS)), framework="pt") as f:
            stored = {k: f.get_tensor(k) for k in f.keys() if k.startswith("head.")}  # noqa: SIM118
        if set(stored) != set(own) or any(tuple(stored[k].shape) != tuple(v.shape) for k, v in own.items()):
            info["why_not"] = "the run's head has another shape (e.g. other task_params)"
        else:
            model.load_state_dict(stored, strict=False)
            info.update(kept=True, tensors=len(stored), classes=len(classes))
    return info


def new_model(backbone: Any, task: Task, out_dim: int, mapping: Any = None,
              head_dropout: float = 0.0) -> TransferModel:
    """A TransferModel whose head the task builds."""
    in_dim = getattr(mapping, "out_dim", backbone.feature_dim) if mapping is not None \
        else backbone.feature_dim
    return TransferModel(backbone, out_dim, mapping=mapping, head_dropout=head_dropout,
                         head=task.head_for(backbone, in_dim, out_dim))


def rebuild_model(manifest: dict[str, Any], run_dir: str | Path) -> TransferModel:
    """The model a run directory describes (``transferkit.json``), with its saved weights."""
    from safetensors.torch import load_file

    from transferkit.backbones import from_description
    from transferkit.mapping import MAPPINGS

    weights = check_weights_file(Path(run_dir) / WEIGHTS)
    check_weights_digest(weights, manifest)
    # the task's parameters that shape its head, as the run recorded them (Task.describe_head)
    from transferkit.tasks import DEFAULT_TASK, TASKS

    name = manifest.get("task") or DEFAULT_TASK
    params = {**TASKS.get(name).unrecorded_params, **(manifest.get("task_params") or {})}
    task = get_task(name, params or None)
    problem = task.check_targets(manifest)
    if problem:
        raise RunDirError(f"{MANIFEST} of '{run_dir}' {problem} The file was edited or is corrupt; "
                          "re-run the fit that wrote it.")
    desc = dict(manifest["backbone"])
    if desc.get("tokenizer"):  # assets the run keeps, relative to the run directory
        desc["tokenizer"] = str(Path(run_dir) / desc["tokenizer"])
    backbone = task.prepare_backbone(from_description(desc))
    m = manifest.get("mapping") or {"name": "identity"}
    mapping = MAPPINGS.build(m["name"], in_dim=m.get("in_dim", backbone.feature_dim),
                              out_dim=m.get("out_dim"))
    head = manifest["head"]
    model = new_model(backbone, task, head["num_classes"], mapping, head.get("dropout", 0.0))
    try:
        state = load_file(str(weights))
        missing, unexpected = model.load_state_dict(state, strict=False)
    except Exception as exc:  # safetensors' SafetensorError, torch's size-mismatch RuntimeError
        raise RunDirError(
            f"The weights in '{weights}' cannot be loaded into the model described in {MANIFEST}: "
            f"{str(exc).splitlines()[0][:300]}. The run directory is corrupt or was edited; re-run "
            "the fit that wrote it.") from None
    if missing or unexpected:
        raise TransferkitError(
            f"The weights in '{weights}' do not fit the model described in {MANIFEST}: "
            f"missing {list(missing)[:5]}, unexpected {list(unexpected)[:5]}. The run "
            "directory is inconsistent; re-run the fit that wrote it."
        )
    return model


def check_weights_digest(weights: Path, manifest: dict[str, Any]) -> None:
    """Refuse weights whose sha256 differs from the one the run recorded (runs written by
    transferkit 0.1.0 recorded none; they load as before)."""
    expected = manifest.get("weights_sha256")
    if not expected:
        return
    digest = hashlib.sha256()
    with weights.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    if digest.hexdigest() != expected:
        raise RunDirError(
            f"'{weights}' does not match the checksum recorded in {MANIFEST} when the run was "
            "written: the file was edited, truncated or corrupted. Restore it from a backup or "
            "re-run the fit that wrote it.")


__all__ = ["MIN_RESOLUTION", "SMALL_IMAGE", "apply_pool_stages", "check_weights_digest", "data_resolution", "build_backbone", "build_model", "new_model", "rebuild_model",
           "strategy_freezes_backbone"]
