"""Two finished runs compared on the same test examples: ``transferkit compare RUN_A RUN_B``.

A run of a task that keeps its test outputs (``Task.keeps_test_outputs``: classification,
regression) writes them to ``test_predictions.npz``. Two such runs whose test splits have
the same fingerprint (the same examples, in the same order, with the same targets) are
compared by the task's own paired test -- for classification McNemar's exact test and a
paired, class-stratified bootstrap CI of the accuracy difference; for regression a paired
bootstrap of the R² difference -- and the sentence follows the test ("A helped (+4.7
points vs B, 95 % CI +1.2 … +8.1, McNemar p = 0.012)", "no detectable difference", or
"A is worse"), exactly as ``fit --compare scratch`` words its own comparison. Each run's
own decision rule (a stored threshold) decides its predictions.

A multimodal run (``transferkit multimodal``) keeps each fusion's test probabilities in its
``test_predictions.npz``; it is compared by one fusion (``concat`` unless asked), with
another multimodal run of the same table rows or with itself under the other fusion. Its
split fingerprint hashes table rows, a fit's hashes dataset examples: the two cannot be
checked to be the same examples, so such a pair is refused rather than paired by position.

>>> compare_runs("runs/transferred", "runs/scratch")["sentence"]  # doctest: +SKIP
'A vs B: no detectable difference (+1.2 points vs B, 95 % CI -0.8 … +3.1, McNemar p = 0.31)'
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from transferkit.errors import ConfigError, RunDirError


def _test_split(run: Path, fusion: str | None = None
                ) -> tuple[dict[str, Any], dict[str, Any], np.ndarray, np.ndarray]:
    """(manifest, summary, test targets, test outputs) of a finished run; of a multimodal
    run, ``fusion``'s test probabilities (default ``concat``, what its predict answers)."""
    from transferkit.multimodal.fusion import FUSIONS
    from transferkit.multimodal.saved import MANIFEST as MM_MANIFEST
    from transferkit.multimodal.saved import is_multimodal_run, outputs_key, run_view
    from transferkit.rundir import MANIFEST, SUMMARY, TEST_PREDICTIONS, read_json
    from transferkit.tasks import get_task

    multimodal = is_multimodal_run(run)
    if fusion is not None and fusion not in FUSIONS:
        raise ConfigError(f"The fusion of '{run}' (--fusion-a/--fusion-b) must be one of "
                          f"{', '.join(FUSIONS)}. Got {fusion!r} instead.")
    if fusion is not None and not multimodal:
        raise ConfigError(f"A fusion was given for '{run}', which is not a multimodal run (it has no "
                          f"{MM_MANIFEST}): drop --fusion-a/--fusion-b for it.")
    for name in (MM_MANIFEST if multimodal else MANIFEST, SUMMARY):
        if not (run / name).is_file():
            raise RunDirError(f"'{run}' is not a finished run: it has no {name}. Give a run "
                              "directory written by transferkit fit, adapt, auto or multimodal.")
    manifest, summary = read_json(run / (MM_MANIFEST if multimodal else MANIFEST)), read_json(run / SUMMARY)
    if multimodal:  # its rows' classes, decided by the classification task (summary.json's task)
        manifest = run_view(manifest, summary)
    task = get_task(manifest.get("task") or summary.get("task"))
    path = run / TEST_PREDICTIONS
    if not task.keeps_test_outputs:
        raise ConfigError(f"The {task.name} task does not keep every test output, so '{run}' cannot be "
                          "compared example by example; compare the runs' summary metrics instead.")
    if not path.is_file():
        raise RunDirError(f"'{run}' has no {TEST_PREDICTIONS} (a run without a test split, or one "
                          "written by an older transferkit): re-run it to compare it with another.")
    key = outputs_key(fusion or "concat") if multimodal else None
    with np.load(path, allow_pickle=False) as z:
        if key is not None and key not in z.files:
            raise RunDirError(f"'{path}' holds no test outputs of the {fusion or 'concat'} fusion (it "
                              f"holds {sorted(z.files)}): re-run transferkit multimodal to keep them.")
        if "y" not in z.files or not {"outputs", "pred"} & set(z.files):
            raise RunDirError(f"'{path}' holds {sorted(z.files)}, not the test targets and outputs a "
                              "comparison needs: re-run the fit.")
        outputs = z[key] if key else z["outputs"] if "outputs" in z.files else z["pred"]
        return manifest, summary, np.asarray(z["y"]), np.asarray(outputs)


def _test_fingerprint(summary: dict[str, Any]) -> str | None:
    splits = (summary.get("fingerprints") or {}).get("splits") or {}
    return splits.get("test") or splits.get("target_test")


def _same_examples(a: Path, b: Path, man_a: dict[str, Any], man_b: dict[str, Any], sum_a: dict[str, Any],
                   sum_b: dict[str, Any], y_a: np.ndarray, y_b: np.ndarray) -> None:
    """Refuse, naming both runs, unless their test splits are the same examples in the same
    order: the same split fingerprint and the same targets. A multimodal run's fingerprint
    hashes its table's rows and a fit's its dataset's examples, so the two kinds never match
    and a multimodal run is never paired by position alone: both fingerprints are required."""
    fa, fb = _test_fingerprint(sum_a), _test_fingerprint(sum_b)
    kinds = {str(m.get("modality")) == "multimodal" for m in (man_a, man_b)}
    if len(kinds) == 2:
        mm, other = (a, b) if man_a.get("modality") == "multimodal" else (b, a)
        raise ConfigError(f"'{mm}' is a multimodal run (its test split fingerprints rows of a table) and "
                          f"'{other}' is not (its fingerprint is of a dataset's examples), so whether they "
                          "were tested on the same examples cannot be checked, and a paired test needs "
                          "that. Compare two multimodal runs of the same table, --seed and fractions "
                          "(e.g. other --columns), or the same run's fusions (--fusion-b late).")
    if True in kinds and not (fa and fb):
        raise ConfigError(f"'{a if not fa else b}' records no test split fingerprint, so whether '{a}' and "
                          f"'{b}' were tested on the same rows cannot be checked: re-run it with this "
                          "transferkit multimodal.")
    same = (fa == fb) if fa and fb else True
    if not same or y_a.shape != y_b.shape or not np.array_equal(y_a, y_b, equal_nan=y_a.dtype.kind == "f"):
        raise ConfigError(f"'{a}' and '{b}' were tested on different examples ({len(y_a)} and "
                          f"{len(y_b)} test examples{'; the split fingerprints differ' if not same else ''}"
                          "): a paired test needs the same test split. Fit both on the same data with "
                          "the same --seed and split settings (--shots draws the training examples, "
                          "not the test split; a multimodal run: the same table, --seed, "
                          "--test-fraction and --val-fraction).")


def compare_runs(run_a: str | Path, run_b: str | Path, seed: int = 0, fusion_a: str | None = None,
                 fusion_b: str | None = None) -> dict[str, Any]:
    """The paired test of run A against run B on their shared test split (see the module
    docstring): ``{"a", "b", "task", "n", "metric", "diff", "ci", "p_value", "test",
    "verdict", "sentence", ...}``. The two runs must be of the same task and have the same test
    split (fingerprint and targets); anything else is a clear error. A multimodal run
    (``transferkit multimodal``) is compared by its ``fusion_a``/``fusion_b`` (``concat``, the
    default, or ``late``); A and B may be the same multimodal run with two fusions."""
    a, b = Path(run_a), Path(run_b)
    man_a, sum_a, y_a, out_a = _test_split(a, fusion_a)
    man_b, sum_b, y_b, out_b = _test_split(b, fusion_b)
    if man_a.get("task") != man_b.get("task"):
        raise ConfigError(f"'{a}' is a {man_a.get('task')} run and '{b}' a {man_b.get('task')} run: "
                          "only runs of the same task can be compared.")
    _same_examples(a, b, man_a, man_b, sum_a, sum_b, y_a, y_b)
    if man_a.get("classes") != man_b.get("classes"):
        raise ConfigError(f"'{a}' and '{b}' predict different classes ({man_a.get('classes')} vs "
                          f"{man_b.get('classes')}): they cannot be compared example by example.")
    from transferkit.tasks import get_task

    task = get_task(man_a["task"])
    meta = {**man_a, "baseline_head": man_b}  # each run decides with its own stored rule
    result = task.compare(y_a, out_a, out_b, meta, baseline="B", seed=seed,
                          wording={"what": "A vs B", "better": "— A is better", "subject": "A",
                                   "worse": "A vs B", "advice": "Prefer B."})
    if result is None:
        raise ConfigError(f"The {task.name} task could not compare '{a}' and '{b}' (too few test "
                          "examples with a target).")
    fusions = {k: f or "concat" for k, f, m in (("a", fusion_a, man_a), ("b", fusion_b, man_b))
               if m.get("modality") == "multimodal"}
    return {"a": str(a), "b": str(b), "task": task.name, "n": int(len(y_a)),
            **({"fusion": fusions} if fusions else {}), **result}


__all__ = ["compare_runs"]
