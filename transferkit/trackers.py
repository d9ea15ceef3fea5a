"""The experiment trackers ``--report-to`` accepts (no heavy imports: the config and the
CLI parser read this). The trackers themselves run in :mod:`transferkit.train.progress`."""

from __future__ import annotations

from typing import Any

from transferkit.errors import ConfigError

#: trackers ``--report-to`` accepts, and the package each needs
TRACKERS = {"tensorboard": "tensorboard", "mlflow": "mlflow-skinny", "wandb": "wandb"}
PROJECT = "transferkit"


def check_trackers(value: Any) -> str:
    """``value`` (comma-separated tracker names, or 'none') normalised, or a ConfigError."""
    names = [n.strip().lower() for n in str("none" if value is None else value).split(",") if n.strip()]
    bad = [n for n in names if n not in (*TRACKERS, "none", "all")]
    if bad or not names:
        raise ConfigError(f"The 'report_to' parameter takes a comma-separated list of {', '.join(TRACKERS)} "
                          f"(or 'all' or 'none'). Got {value!r} instead.")
    if "all" in names:
        return ",".join(TRACKERS)
    kept = [n for n in TRACKERS if n in names]
    return ",".join(kept) if kept else "none"


def tracker_names(report_to: str, tensorboard: bool = False) -> list[str]:
    """The trackers a training config asks for (``--tensorboard`` adds TensorBoard)."""
    names = [n for n in check_trackers(report_to).split(",") if n != "none"]
    if tensorboard and "tensorboard" not in names:
        names.insert(0, "tensorboard")
    return names


__all__ = ["PROJECT", "TRACKERS", "check_trackers", "tracker_names"]
