"""The demo is a test: its recipes (``DEMO_RUNS``) on fewer test examples, with the label
budget a user gets. Reduced only where time needs it, and said here: the first 200 test
examples (balanced accuracy's standard error there is about 3.5 points, the floors sit 10+
points under the demo's rows); the gradual image row (and its scratch comparison) at 48 px
for 1 epoch instead of 64 px for 5 -- at 2 epochs this row took 115 of the test's ~170
CPU-seconds (the image probe row 22), nearly all of it in its 6 unfrozen and 6 scratch steps,
not in the 500 head steps on cached features; the partial text row 3 epochs instead of 8. Shots, backbones,
strategies, the label budget and every other setting are the demo's."""

import io

import pytest

from transferkit.cli.demo import DEMO_RUNS, run_demo

#: what the reduced demo changes in each recipe, and nothing else
REDUCED = {"max_test": 200}
#: per strategy: what else changes (end-to-end rows dominate the time)
LIGHTER = {"gradual": {"epochs": 1, "image_size": 48}, "partial": {"epochs": 3}}
#: balanced accuracy every row must reach
FLOOR = {"text": 0.58, "image": 0.60}


def reduced_runs():
    runs = []
    for title, kwargs in DEMO_RUNS:
        runs.append((title, {**kwargs, **REDUCED, **LIGHTER.get(kwargs["strategy"], {})}))
    return runs


@pytest.mark.slow
@pytest.mark.timeout(1800)  # ~1 min of compute; a machine shared by many takes far longer
def test_reduced_demo_rows_clear_their_floors(tmp_path):
    from rich.console import Console

    console = Console(file=io.StringIO(), width=300)
    rows = run_demo(reduced_runs(), tmp_path, console)
    printed = console.file.getvalue()
    assert "labels used" in printed
    for (title, kwargs), row in zip(reduced_runs(), rows, strict=True):
        s = row["summary"]
        kind = "text" if kwargs["data"] == "fine-foods" else "image"
        test = s["metrics"]["test"]
        assert test["balanced_accuracy"] >= FLOOR[kind], (title, test)
        # the label budget: the shots are every label read, validation included
        used = s["labels_used"]
        assert used["train"] + used["val"] == kwargs["shots"] * len(s["data"]["classes"]), (title, used)
        assert f"{used['train'] + used['val']} ({used['train']} + {used['val']} val)" in printed
        if row["floor"] is not None:  # a row below its floor says so, in the summary and the table
            assert row["floor"] in s["warnings"] and row["floor"][:40] in printed
        scratch = (s["baselines"].get("scratch") or {}).get("test")
        if scratch is not None:
            assert test["accuracy"] > scratch["accuracy"], (title, test["accuracy"], scratch)
