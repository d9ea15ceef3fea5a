"""Every registered shallow adaptation method honours the estimator contract."""

import dataclasses

import numpy as np
import pytest

from transferkit.errors import ConfigError, DataError, NotFittedError
from transferkit.shallow import SHALLOW, ShallowAdapter

NAMES = SHALLOW.names()


def data(seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(40, 6)), rng.normal(size=(30, 6)) * 1.5 + 0.5


def test_the_three_methods_are_registered():
    assert set(NAMES) == {"coral", "importance", "subspace"}


@pytest.mark.parametrize("name", NAMES)
def test_fit_transform_weights(name):
    f_s, f_t = data()
    copies = f_s.copy(), f_t.copy()
    adapter = SHALLOW.create(name)
    assert isinstance(adapter, ShallowAdapter)
    assert adapter.fit(f_s, f_t) is adapter
    src, tgt = adapter.transform_source(f_s), adapter.transform_target(f_t)
    assert src.shape[0] == 40 and tgt.shape[0] == 30 and src.shape[1] == tgt.shape[1]
    assert np.isfinite(src).all() and np.isfinite(tgt).all()
    w = adapter.sample_weight(f_s)
    assert w.shape == (40,) and (w > 0).all() and w.mean() == pytest.approx(1.0)
    np.testing.assert_array_equal(f_s, copies[0])  # inputs are never modified
    np.testing.assert_array_equal(f_t, copies[1])
    again_s, again_t = SHALLOW.create(name).fit_transform(f_s, f_t)
    np.testing.assert_allclose(again_s, src)
    np.testing.assert_allclose(again_t, tgt)


@pytest.mark.parametrize("name", NAMES)
def test_errors(name):
    f_s, f_t = data()
    adapter = SHALLOW.create(name)
    with pytest.raises(NotFittedError, match="fit"):
        adapter.transform_source(f_s)
    with pytest.raises(DataError, match="6 columns"):
        adapter.fit(f_s, f_t[:, :5])
    bad = f_s.copy()
    bad[3, 1] = np.nan
    with pytest.raises(DataError, match="row 3"):
        adapter.fit(bad, f_t)
    with pytest.raises(DataError, match="2-D"):
        adapter.fit(f_s[0], f_t)
    adapter.fit(f_s, f_t)
    with pytest.raises(DataError, match="6 columns"):
        adapter.transform_target(f_t[:, :4])
    with pytest.raises(ConfigError, match="Unknown configuration key"):
        SHALLOW.create(name, not_an_option=1)


@pytest.mark.parametrize("name", NAMES)
def test_config_documents_itself(name):
    cfg = SHALLOW.config(name)
    assert dataclasses.is_dataclass(cfg)
    assert all(f.metadata.get("help") for f in dataclasses.fields(cfg))
    doc = SHALLOW.get(name).__doc__
    assert "http" in doc and "Shapes" in doc
