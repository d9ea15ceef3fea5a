"""Property-based tests (hypothesis): whatever a user's file holds, the loaders return a
consistent dataset or raise a DataError; whatever ``--set`` says, the config parser
returns a config or raises a ConfigError. Never another exception."""

from __future__ import annotations

import csv
import json
import tempfile
import warnings
from pathlib import Path

import numpy as np
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from transferkit.config import FitConfig, describe, load_config
from transferkit.data import load, load_splits
from transferkit.errors import ConfigError, DataError

SETTINGS = settings(max_examples=60, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])

_number = st.floats(-1e6, 1e6).map(lambda v: f"{v:.4g}")
_junk = st.one_of(st.floats(allow_nan=True, allow_infinity=True).map(repr), st.text(max_size=8),
                  st.sampled_from(["", "NA", "nan", "inf", "-inf", "1e400", "True", "None", " "]))
# mostly clean cells and few classes (so that loading succeeds often), some junk
_cells = st.one_of(_number, _number, _number, st.integers(-100, 100).map(str), _junk)
_labels = st.one_of(st.sampled_from(["a", "b"]), st.sampled_from(["a", "b", "c"]),
                    st.integers(0, 2).map(str), st.floats(allow_nan=True).map(repr),
                    st.sampled_from(["", "NA", " "]), st.text(max_size=4))


def _check(ds, n: int | None = None) -> None:
    """The invariants every loaded dataset keeps."""
    y = np.asarray(ds.y)
    assert y.ndim == 1 and len(ds) == len(y) and (n is None or len(y) == n)
    assert np.issubdtype(y.dtype, np.integer)
    assert len(set(ds.classes)) == len(ds.classes) and all(isinstance(c, str) for c in ds.classes)
    assert len(y) == 0 or (y.min() >= 0 and y.max() < len(ds.classes))
    for i in range(min(len(ds), 3)):
        ds.input(i)


def _load_or_data_error(path: Path, n: int | None = None, **kwargs) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            ds = load(str(path), split="all", **kwargs)
        except DataError as exc:
            assert str(exc)
            event("load: DataError")
            return
        event(f"load: {ds.modality} dataset")
        _check(ds, n)
        try:  # splitting is where small classes and few rows bite
            splits = load_splits(str(path), **kwargs)
        except (DataError, ConfigError) as exc:
            assert str(exc)
            event("splits: error")
            return
        event("splits: loaded")
        for part in (splits.train, splits.val, splits.test):
            _check(part)
            assert list(part.classes) == list(splits.train.classes)


@SETTINGS
@given(rows=st.one_of(  # clean tables (numbers, a few classes) and tables with junk anywhere
    st.lists(st.tuples(_number, _number, st.sampled_from(["a", "b", "c"])), min_size=0, max_size=40),
    st.lists(st.tuples(_cells, _cells, _labels), min_size=0, max_size=40)))
def test_any_csv_table_loads_consistently_or_raises_data_error(rows) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "t.csv"
        with path.open("w", newline="", encoding="utf-8") as fh:
            w = csv.writer(fh)
            w.writerow(["f0", "f1", "label"])
            w.writerows(rows)
        _load_or_data_error(path)
        _numbers_or_error(path)


def _numbers_or_error(path: Path) -> None:
    """Labels read as numbers (regression), directly or by the task rule of a fit: finite
    float targets without classes, or a DataError/ConfigError."""
    from transferkit.tasks import get_task, infer_task

    for targets in ("values", lambda pool: get_task(infer_task(pool)[0]).targets):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                splits = load_splits(str(path), targets=targets)
            except (DataError, ConfigError) as exc:
                assert str(exc)
                continue
        for part in (splits.train, splits.val, splits.test):
            if part.has_values:
                assert part.classes == [] and np.isfinite(part.y).all()


_json = st.recursive(st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False),
                               st.text(max_size=12)),
                     lambda inner: st.lists(inner, max_size=2) | st.dictionaries(st.text(max_size=3), inner, max_size=2),
                     max_leaves=4)


@SETTINGS
@given(records=st.lists(st.fixed_dictionaries({
           "text": st.one_of(st.text(max_size=30), st.text(max_size=30), _json),
           "label": st.one_of(st.sampled_from(["pos", "neg"]), st.sampled_from(["pos", "neg"]), _json)}),
           max_size=40),
       junk=st.sampled_from(["", "\n", "not json\n", "[1, 2]\n", "\n\n"]))
def test_any_jsonl_text_file_loads_consistently_or_raises_data_error(records, junk) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "t.jsonl"
        path.write_text("".join(json.dumps(r) + "\n" for r in records) + junk, encoding="utf-8")
        _load_or_data_error(path)


@SETTINGS
@given(n=st.integers(0, 40), shape=st.sampled_from([(), (3,), (4, 4), (4, 4, 3), (2, 2, 2, 2)]),
       y_kind=st.sampled_from(["int", "int", "str", "str", "negative", "float", "nan", "bool", "bytes",
                               "2d", "short"]),
       seed=st.integers(0, 2**16))
def test_any_npz_arrays_load_consistently_or_raise_data_error(n, shape, y_kind, seed) -> None:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, *shape)).astype(np.float32)
    y = {"int": rng.integers(0, 3, n), "negative": rng.integers(-3, 3, n),
         "float": rng.random(n), "nan": np.full(n, np.nan), "bool": rng.random(n) < 0.5,
         "str": rng.choice(["cat", "dog"], n), "bytes": rng.choice([b"a", b"b"], n),
         "2d": rng.integers(0, 2, (n, 2)), "short": rng.integers(0, 2, max(0, n - 1))}[y_kind]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "d.npz"
        np.savez(path, x=x, y=y)
        _load_or_data_error(path)


# ----------------------------------------------------------------------------- the config parser

_KEYS = [row[0] for row in describe(FitConfig)]


def _parse(overrides: list[str], path: Path | None = None) -> None:
    """Parse a config (YAML file and/or overrides): a FitConfig or a ConfigError, nothing else."""
    try:
        cfg = load_config(FitConfig, path, overrides=overrides)
    except ConfigError as exc:
        assert str(exc)
        event("ConfigError")
        return
    event("config")
    assert isinstance(cfg, FitConfig)


@SETTINGS
@given(st.lists(st.text(max_size=30), max_size=3))
def test_any_set_string_gives_a_config_or_a_config_error(overrides) -> None:
    _parse(overrides)


@SETTINGS
@given(key=st.sampled_from(_KEYS), value=st.one_of(
    st.text(max_size=20), st.integers().map(str), st.floats().map(repr),
    st.sampled_from(["null", "[]", "{}", "[1, 2]", "{a: 1}", "-1", "0", "1e400", "true", "~", "'",
                     "\"x", "[", "!!python/object:os.system", "&a [*a]"])))
def test_set_on_every_key_with_any_value_gives_a_config_or_a_config_error(key, value) -> None:
    _parse([f"{key}={value}"])


_sections = {"data": ["shots", "seed", "val_fraction", "max_test", "skip_bad", "bogus"],
             "train": ["epochs", "lr", "batch_size", "optimizer", "patience", "grad_clip"],
             "backbone": ["name", "pretrained", "image_size"], "strategy": [], "compare": []}


@st.composite
def _yaml_documents(draw) -> str:
    import yaml

    doc: dict = {}
    for section in draw(st.lists(st.sampled_from(sorted(_sections)), max_size=4, unique=True)):
        keys = _sections[section]
        doc[section] = draw(st.dictionaries(st.sampled_from(keys), _json, max_size=3)) if keys \
            else draw(_json)
    return draw(st.one_of(st.just(yaml.safe_dump(doc)), st.text(max_size=60)))


@SETTINGS
@given(_yaml_documents())
def test_any_yaml_config_file_gives_a_config_or_a_config_error(text) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "c.yaml"
        path.write_text(text, encoding="utf-8")
        _parse([], path)
