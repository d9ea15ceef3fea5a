"""Source pretraining: train a backbone on a labelled source dataset (``transferkit pretrain``).

For domains without a public pretrained model (a hospital's own scans, a bank's own
transactions) the source model is trained here, with the same training loop and the
same run-directory format as ``fit``; the run directory then works as
``--backbone runs/src`` for ``fit`` (and everything else that takes a backbone)::

    transferkit pretrain --data printed-digits --arch timm:resnet10t --image-size 32 --out runs/printed
    transferkit fit --data digits --shots 10 --backbone runs/printed --strategy full

``arch`` is anything ``--backbone`` accepts: a timm architecture (``timm:resnet10t``,
random init unless ``pretrained=True``), the tabular MLP (``tabular`` or
``tabular:128,64``), a sequence encoder (``sequence:cnn``, ``sequence:lstm``), or a
pretrained backbone to continue training on the source task (``efficientnet_lite0`` with
``pretrained=True``, or an earlier run directory). Without ``arch``, a table trains the
tabular MLP (``tabular``); images and texts need one named.

>>> run = pretrain("breast-cancer-wdbc", "tabular", "runs/wdbc", epochs=30)  # doctest: +SKIP
>>> run.summary["command"]
'pretrain'
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from transferkit.config import FitConfig, configure, to_dict
from transferkit.errors import ConfigError
from transferkit.logs import library_log
from transferkit.pipeline import Run, RunResult, default_run_name, fit_configured

#: Measured on printed-digits -> digits (benchmarks/pipelines.py): a small ResNet at 32 px.
DEFAULT_IMAGE_ARCH = "timm:resnet10t"
#: what pretraining learns from: the labels, or hidden values of the series themselves
OBJECTIVES = ("supervised", "masked")


def pretrain(data: str | None = None, arch: str | None = None, out: str | Path | None = None, *,
             epochs: int | None = 10, pretrained: bool = False,
             image_size: int | None = None, lr: float | None = None, batch_size: int | None = None,
             seed: int | None = 0, max_steps: int | None = None, patience: int | None = 5,
             backbone_lr_ratio: float | None = None, overrides: Sequence[str] = (),
             config: str | Path | None = None, name: str | None = None, dry_run: bool = False,
             overwrite: bool = False, objective: str = "supervised",
             log: Callable[[str], None] | None = None,
             **data_options: Any) -> RunResult | dict[str, Any]:
    """Supervised pretraining of ``arch`` on the labelled source ``data``; writes ``out``.

    Every parameter trains (strategy ``full``): from random initialisation the backbone
    learns at the head's rate (``backbone_lr_ratio`` 1.0); a pretrained backbone
    (``pretrained=True`` or a run directory) continues at a tenth of it. Early stopping
    uses the source's validation split; the test split gives the source accuracy in
    ``summary.json`` (``"command": "pretrain"``).

    Parameters
    ----------
    data:
        Labelled source dataset: a built-in name or a path (as ``fit --data``; or
        ``data.data`` of ``config``). Series: ``"a,b,c"`` reads several sets as one source
        (classes ``<set>/<class>``, every series resampled to one length; ``"a,b,c@L"``: L
        steps), see :mod:`transferkit.data.series_sources`.
    arch:
        Backbone specification (as ``fit --backbone``); None: ``backbone.name`` of ``config``
        or ``overrides`` when they name one, else ``tabular`` for a table.
    out:
        The run directory to write (None: ``out`` of ``config``, else runs/<name>).
    name:
        The run's name (default derived from data, architecture and time).
    epochs, lr, batch_size, seed, max_steps, patience:
        The training loop's settings (``lr``/``batch_size`` default to TrainConfig's;
        ``None`` keeps the config's value).
    pretrained:
        Start from the architecture's pretrained weights (continued training) instead
        of random initialisation.
    image_size:
        Input resolution of image architectures (default: for a random-init model the
        source images' native size rounded up to a multiple of 32 -- 28-px Fashion-MNIST
        at 32 px, not the architecture's 224 -- for continued training the size ``fit``
        would choose).
    overrides:
        Further ``key=value`` settings of :class:`~transferkit.config.FitConfig`.
    config:
        A YAML file of :class:`~transferkit.config.FitConfig` keys (as ``fit --config``);
        the arguments above and ``overrides`` take precedence.
    dry_run:
        Return the plan of the source fit (data, steps, estimated time and memory) and
        train and write nothing.
    overwrite:
        Replace a run already in the run directory (once the new one is complete); without
        it, an existing run is refused.
    objective:
        ``"supervised"`` (the source's labels) or ``"masked"``: self-supervised masked-value
        reconstruction for series encoders (:mod:`transferkit.train.masked`), on the training
        split of a built-in or every series of a file, labels unused (a ``.ts`` file without
        labels, an ``.npz`` without ``y`` and long/wide CSV files without a label column work).
    data_options:
        ``domain``, ``max_test``, ``text_column``, ... as in ``fit``.
    """
    if objective not in OBJECTIVES:
        raise ConfigError(f"The 'objective' parameter of pretrain must be one of {', '.join(OBJECTIVES)}. "
                          f"Got {objective!r} instead.")
    if epochs is not None and (not isinstance(epochs, int) or isinstance(epochs, bool) or epochs < 1):
        raise ConfigError(f"The 'epochs' parameter of pretrain must be an int >= 1. Got {epochs!r} instead.")
    values: dict[str, Any] = {
        "data.data": data, "data.seed": seed, "train.epochs": epochs, "train.max_steps": max_steps,
        "train.patience": patience, "train.lr": lr, "train.batch_size": batch_size,
        "out": None if out is None else str(out), "name": name,
    }
    for key, value in data_options.items():
        values[f"data.{key}"] = value
    given = configure(FitConfig, config, overrides, **values)
    if objective == "masked":
        if not given.data.data or not arch:
            raise ConfigError("pretrain --objective masked needs --data (series) and --arch (a sequence "
                              "encoder, e.g. sequence:cnn).")
        _refuse_fixed(str(arch))
        values.update({"backbone.name": str(arch), "strategy": "full"})
        cfg = configure(FitConfig, config, overrides, **values)
        return _pretrain_masked(cfg, str(arch), log, overwrite)
    if not given.data.data:
        raise ConfigError("pretrain needs a labelled source dataset: pass --data (a built-in name or "
                          "a path), or set data.data in the --config file.")
    arch = str(arch or _named_arch(config, overrides) or default_arch(given))
    _refuse_fixed(arch)
    from_run = Path(arch).expanduser().is_dir()
    continued = pretrained or from_run
    # image_size None: a random-init image network reads the source at its native size rounded
    # up to a multiple of 32 (pipeline.build.data_resolution), a continued one as fit would
    ratio = backbone_lr_ratio if backbone_lr_ratio is not None else (0.1 if continued else 1.0)
    values.update({
        "backbone.name": arch, "backbone.pretrained": bool(continued), "backbone.image_size": image_size,
        "strategy": "full", "strategy_params": {"backbone_lr_ratio": ratio},
    })
    cfg = configure(FitConfig, config, overrides, **values)
    if cfg.joint_source or cfg.mapping not in ("identity",) or cfg.compare:
        raise ConfigError("pretrain trains backbone and source head only: joint_source, mapping and "
                          "compare are options of fit, not of pretrain.")
    if dry_run:  # the plan of the source fit; nothing is trained or written
        from transferkit.pipeline.plan import plan_fit

        return plan_fit(cfg, log or library_log)
    return _pretrain(cfg, arch, continued, log, overwrite)


def _refuse_fixed(arch: str) -> None:
    """A clear error for a backbone whose features do not train (``lags``): nothing to pretrain."""
    from transferkit.pipeline.build import _fixed_features

    fixed = "" if Path(arch).expanduser().is_dir() else _fixed_features(arch)
    if fixed:
        raise ConfigError(f"pretrain cannot pretrain '{arch}': it {fixed}, so no weights would carry "
                          "over. Fit it on the target directly (transferkit fit --backbone "
                          f"{arch}), or pretrain a network such as --arch sequence:cnn.")


def _named_arch(config: str | Path | None, overrides: Sequence[str]) -> str | None:
    """backbone.name as the --config file or a --set override names it (None: not named;
    the config default, efficientnet_lite0, is not a choice the user made)."""
    from transferkit.options import parse_override, read_yaml

    named = None
    if config is not None:
        section = read_yaml(config).get("backbone")
        named = section.get("name") if isinstance(section, dict) else None
    for text in overrides:
        keys, value = parse_override(text)
        if keys == ["backbone", "name"]:
            named = value
    return str(named) if named else None


def default_arch(cfg: FitConfig) -> str:
    """The architecture pretrained when none is named: the tabular MLP for a table; images
    and texts have no one right answer, so the error lists the usual choices."""
    from transferkit.data import DATASETS, load

    name = str(cfg.data.data)
    path = Path(name).expanduser()
    if not path.exists() and name in DATASETS:
        modality = DATASETS.get(name).modality
    elif path.is_dir():
        modality = "image"  # an image folder (root/<class>/<image>)
    else:
        d = cfg.data
        modality = load(name, split="all", domain=d.domain, text_column=d.text_column,
                        label_column=d.label_column, skip_bad=d.skip_bad,
                        label_separator=d.label_separator, label_columns=d.label_columns).modality
    if modality == "table":
        return "tabular"
    examples = {"image": f"{DEFAULT_IMAGE_ARCH} (a small ResNet) or efficientnet_lite0 --pretrained",
                "text": "sequence:cnn, sequence:lstm, or minilm --pretrained"}
    raise ConfigError(f"pretrain needs --arch for {modality} data ('{name}'): e.g. "
                      f"{examples.get(modality, 'a backbone as fit --backbone takes')}. Only tables "
                      "have a default (tabular).")


def _pretrain(cfg: FitConfig, arch: str, continued: bool, log: Callable[[str], None] | None,
              overwrite: bool = False) -> RunResult:
    """The fit of ``cfg`` written as a pretrain run: its own command, choice and section,
    with summary, report and runs-index row written once."""
    t_start = time.perf_counter()
    say = log or library_log
    say(f"[bold]pretrain[/bold] {arch} on {cfg.data.data} "
        + ("(continued training of pretrained weights)" if continued else "(random initialisation)"))
    section = {"choice": f"source pretraining of '{arch}' on '{cfg.data.data}' with every parameter "
                         "training (strategy full)",
               "arch": arch, "init": "pretrained" if continued else "random",
               "config": to_dict(cfg.train)}
    with Run("pretrain", out=cfg.out, name=cfg.name, overwrite=overwrite,
             default_name=default_run_name(cfg.data.data, arch, "pretrain")) as run:
        result = fit_configured(cfg, run, False, say, t_start, ("pretrain", section))
    say(f"[bold]pretrained[/bold] use it as a backbone: --backbone {result.run_dir}")
    return result


def _unlabelled_series(cfg: FitConfig) -> Any:
    """The series masked pretraining reads: a built-in's training split, or a file's series."""
    import numpy as np

    from transferkit.data import DATASETS, TransferDataset, load
    from transferkit.data.series import read_series_inputs
    from transferkit.data.series_sources import is_series_list

    name = str(cfg.data.data)
    if not Path(name).expanduser().exists() and (name in DATASETS or is_series_list(name)):
        ds = load(name, split="train", domain=cfg.data.domain, split_seed=cfg.data.split_seed)
        items, notes = [ds.input(i) for i in range(len(ds))], list(ds.meta.get("warnings", []))
    else:
        items, notes = read_series_inputs(Path(name).expanduser())[1], []
    return TransferDataset(name=Path(name).stem, modality="sequence", x=items,
                           y=np.full(len(items), -1), classes=[], meta={"warnings": notes})


def _pretrain_masked(cfg: FitConfig, arch: str, log: Callable[[str], None] | None,
                     overwrite: bool) -> RunResult:
    """Self-supervised pretraining of a sequence encoder by masked-value reconstruction,
    through the one training loop; writes a run directory that works as --backbone."""
    import torch
    from safetensors.torch import save

    from transferkit.backbones import create_backbone
    from transferkit.pipeline.run import Summary
    from transferkit.rundir import MANIFEST, WEIGHTS, atomic_write_bytes, write_json
    from transferkit.train import Trainer
    from transferkit.train.masked import MaskedValueObjective

    t_start = time.perf_counter()
    say = log or library_log
    say(f"[bold]pretrain[/bold] {arch} on {cfg.data.data} by masked-value reconstruction (labels unused)")
    torch.manual_seed(cfg.data.seed)
    data = _unlabelled_series(cfg)
    for note in data.meta["warnings"]:  # e.g. several sets resampled to one length
        say(note)
    backbone = create_backbone(arch)
    backbone.adapt_to(data)
    objective = MaskedValueObjective(backbone, seed=cfg.data.seed)
    with Run("pretrain", out=cfg.out, name=cfg.name, overwrite=overwrite,
             default_name=default_run_name(cfg.data.data, arch, "pretrain")) as run:
        run.write_config(cfg)
        trainer = Trainer(backbone, cfg.train, param_groups=[
            {"name": "backbone", "params": list(backbone.parameters()), "lr": cfg.train.lr}],
            train_data=data, collate_fn=lambda items: (backbone.collate([x for x, _ in items]),
                                                       torch.zeros(len(items))),
            objective=objective, run_dir=run.dir, stage="masked", seed=cfg.data.seed, log=say)
        result = trainer.fit()
        backbone.eval()
        state = {f"backbone.{k}": v.detach().cpu().contiguous() for k, v in backbone.state_dict().items()}
        atomic_write_bytes(run.path(WEIGHTS), save(state))
        final = result.history[-1]["train_loss"] if result.history else float("nan")
        write_json(run.path(MANIFEST), {"format_version": 1, "task": None, "modality": "sequence",
                                        "classes": [], "backbone": backbone.describe(),
                                        "objective": "masked"})
        section = {"choice": f"self-supervised masked-value reconstruction of '{arch}' on "
                             f"'{cfg.data.data}' ({len(data)} series, labels unused)",
                   "arch": arch, "init": "random", "objective": "masked", "config": to_dict(cfg.train)}
        summary = Summary(task=None, command="pretrain",  # type: ignore[arg-type]  # no task: no head
                          data={"target": str(cfg.data.data), "n_train": len(data), "n_val": 0, "n_test": 0,
                                "classes": []},
                          backbone=arch, strategy="full", choice=section["choice"],
                          metrics={"train": {"masked_mse": final}}, baselines={}, transfer_gain=None,
                          selection={"split": None, "validator": None},
                          timings={"total_s": round(time.perf_counter() - t_start, 3),
                                   "train_s": round(result.train_s, 3)}, pretrain=section)
        data_out = run.finish(summary)
    say(f"masked-value MSE {final:.4f} (standardised values; 1.0 = predicting the mean)")
    say(f"[bold]pretrained[/bold] use it as a backbone: --backbone {run.final}")
    return RunResult(run_dir=run.final, summary=data_out, model=backbone)
