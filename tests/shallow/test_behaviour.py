"""A classifier trained on adapted source features does better on a shifted target."""

import numpy as np
from sklearn.linear_model import LogisticRegression

from transferkit.shallow import SHALLOW

N = 600


def two_classes(rng, scales):
    y = np.arange(N) % 2
    x = rng.normal(size=(N, len(scales))) * np.asarray(scales)
    x[:, 0] += np.where(y == 1, 2.0, -2.0) if len(scales) == 3 else np.where(y == 1, 1.0, -1.0)
    return x, y


def test_coral_fixes_an_affine_shift():
    rng = np.random.default_rng(0)
    x_s, y_s = two_classes(rng, [0.7, 1.2])
    x_t, y_t = two_classes(rng, [0.7, 1.2])
    x_t = x_t @ np.array([[1.0, 0.8], [0.8, 2.0]]) + np.array([3.0, -2.0])
    plain = LogisticRegression().fit(x_s, y_s).score(x_t, y_t)
    coral = SHALLOW.create("coral", match_mean=True, regularization=1e-3).fit(x_s, x_t)
    adapted = LogisticRegression().fit(coral.transform_source(x_s), y_s).score(
        coral.transform_target(x_t), y_t)
    assert plain < 0.6 and adapted > plain + 0.25, (plain, adapted)


def test_subspace_alignment_fixes_a_rotation():
    rng = np.random.default_rng(0)
    x_s, y_s = two_classes(rng, [0.8, 1.0, 0.5])
    x_t, y_t = two_classes(rng, [0.8, 1.0, 0.5])
    c, s = np.cos(1.0), np.sin(1.0)
    x_t = x_t @ np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]]) + 1.0
    plain = LogisticRegression().fit(x_s, y_s).score(x_t, y_t)
    sa = SHALLOW.create("subspace", n_components=1).fit(x_s, x_t)
    adapted = LogisticRegression().fit(sa.transform_source(x_s), y_s).score(sa.transform_target(x_t), y_t)
    assert adapted > plain + 0.15, (plain, adapted)


def test_importance_weighting_fixes_a_covariate_shift():
    rng = np.random.default_rng(0)

    def sample(mu):
        x = np.c_[rng.normal(mu, 1.0, 1000), rng.normal(1.0, 1.5, 1000)]
        return x, (x[:, 1] > 0.5 * x[:, 0] ** 2).astype(int)  # the same p(y|x) in both domains

    x_s, y_s = sample(-1.0)
    x_t, y_t = sample(1.0)
    plain = LogisticRegression().fit(x_s, y_s).score(x_t, y_t)
    iw = SHALLOW.create("importance").fit(x_s, x_t)
    weighted = LogisticRegression().fit(x_s, y_s, sample_weight=iw.sample_weight(x_s)).score(x_t, y_t)
    assert weighted > plain + 0.15, (plain, weighted)
