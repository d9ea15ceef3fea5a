"""Zero-shot methods against hand computations of their formulas, and the protocol."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from transferkit.errors import ConfigError
from transferkit.zeroshot import ZSL_METHODS, LabelSpace
from transferkit.zeroshot.conse import conse_embedding
from transferkit.zeroshot.devise import hinge_rank_loss
from transferkit.zeroshot.eszsl import eszsl_matrix
from transferkit.zeroshot.protocol import centred, evaluate, gzsl, split_classes, zsl_accuracy


def test_eszsl_closed_form_matches_the_paper_and_zeroes_the_gradient():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(12, 4))  # (N, D): the paper's X^T
    y = np.array([0, 1, 2] * 4)
    s = rng.normal(size=(3, 5))  # (Z, A): the paper's S^T
    gamma, lam = 0.7, 0.3
    v = eszsl_matrix(x, y, s, gamma, lam)
    # the paper's notation: X (d x m), Y (m x z) in {-1, 1}, S (a x z)
    X, S = x.T, s.T
    Y = -np.ones((12, 3))
    Y[np.arange(12), y] = 1
    hand = np.linalg.inv(X @ X.T + gamma * np.eye(4)) @ X @ Y @ S.T @ np.linalg.inv(S @ S.T + lam * np.eye(5))
    assert np.allclose(v, hand)
    # it minimises ||X^T V S - Y||^2 + gamma ||V S||^2 + lam ||X^T V||^2 + gamma lam ||V||^2
    grad = (X @ (X.T @ v @ S - Y) @ S.T + gamma * v @ S @ S.T + lam * X @ X.T @ v + gamma * lam * v)
    assert np.abs(grad).max() < 1e-9


def test_devise_hinge_rank_loss_matches_the_formula():
    scores = torch.tensor([[0.5, 0.45, -1.0], [0.0, 0.3, 0.2]])
    y = torch.tensor([0, 2])
    margin = 0.1
    # row 0: j=1: max(0, .1 - .5 + .45) = .05; j=2: 0.  row 1: j=0: .1 - .2 + 0 = -.1 -> 0; j=1: .1 - .2 + .3 = .2
    assert torch.isclose(hinge_rank_loss(scores, y, margin), torch.tensor((0.05 + 0.2) / 2))


def test_conse_is_the_probability_weighted_mean_of_the_top_names():
    probs = np.array([[0.5, 0.3, 0.2, 0.0]])
    names = np.eye(4)
    emb = conse_embedding(probs, names, top=2)
    assert np.allclose(emb, [[0.625, 0.375, 0.0, 0.0]])


def _toy(seed: int = 0):
    """Twelve classes whose features are a linear image of their label embeddings plus noise
    (more seen classes than label dimensions, so the seen ones span the label space)."""
    rng = np.random.default_rng(seed)
    s_all = rng.normal(size=(12, 6))
    s_all /= np.linalg.norm(s_all, axis=1, keepdims=True)
    mix = rng.normal(size=(6, 20))

    def draw(n):
        y = np.repeat(np.arange(12), n)
        return s_all[y] @ mix + 0.3 * rng.normal(size=(len(y), 20)), y

    return s_all, draw(30), draw(20)


def test_eszsl_beats_chance_and_the_random_control_on_unseen_classes():
    s_all, (x_tr, y_tr), (x_te, y_te) = _toy()
    seen, unseen = np.arange(9), np.array([9, 10, 11])
    space = LabelSpace(lambda texts: None)
    learned = evaluate(lambda: ZSL_METHODS.build("eszsl", {"gamma": 1.0, "lam": 0.1}), (x_tr, x_tr, y_tr),
                       (x_te, x_te, y_te), seen, unseen, s_all, space)
    control = evaluate(lambda: ZSL_METHODS.build("random", None), (x_tr, x_tr, y_tr), (x_te, x_te, y_te),
                       seen, unseen, s_all, space)
    assert learned["zsl_accuracy"] >= 0.8 > control["zsl_accuracy"] + 0.15
    assert learned["gzsl"]["h"] > 0.5


def test_devise_learns_a_map_that_names_unseen_classes():
    s_all, (x_tr, y_tr), (x_te, y_te) = _toy()
    seen, unseen = np.arange(9), np.array([9, 10, 11])
    s = centred(s_all, seen)
    keep = y_tr < 9
    model = ZSL_METHODS.build("devise", {"epochs": 15, "lr": 0.01}).fit(
        x_tr[keep], y_tr[keep], s[seen], LabelSpace(lambda texts: None))
    assert zsl_accuracy(model.scores(x_te, s, x_te), y_te, unseen) >= 0.8
    assert model.map_.weight.grad is not None  # trained through the loop, not left at its init


def test_gzsl_metrics_and_stacking_by_hand():
    scores = np.array([[2.0, 1.0, 1.5], [2.0, 0.0, 1.8], [0.0, 3.0, 0.0]])
    y = np.array([0, 2, 1])
    seen, unseen = np.array([0, 1]), np.array([2])
    plain = gzsl(scores, y, seen, unseen)
    assert plain == {"acc_seen": 1.0, "acc_unseen": 0.0, "h": 0.0}
    stacked = gzsl(scores, y, seen, unseen, gamma=0.5)  # [1.5, .5, 1.5] ties -> class 0; [1.5, -.5, 1.8] -> 2
    assert stacked["acc_seen"] == 1.0 and stacked["acc_unseen"] == 1.0 and stacked["h"] == 1.0
    assert zsl_accuracy(scores, y, unseen) == 1.0


def test_unknown_unseen_class_is_an_error_listing_the_classes():
    with pytest.raises(ConfigError, match=r"names \['sock'\].*Classes: a, b, c, d"):
        split_classes(["a", "b", "c", "d"], ["sock"])
    with pytest.raises(ConfigError, match="between 1 and 2"):
        split_classes(["a", "b", "c", "d"], ["a", "b", "c"])


def test_zeroshot_job_names_the_bad_unseen_class_before_any_features():
    from transferkit.jobs.zeroshot import zeroshot

    with pytest.raises(ConfigError, match=r"names \['sock'\].*Classes: 0, 1, 2"):
        zeroshot(data="digits", unseen_classes=["sock"])
    with pytest.raises(ConfigError, match="Unknown zero-shot method 'esszl'"):
        zeroshot(data="digits", method="esszl")


def _weak_toy(seed: int, noise: float):
    """The toy above with noisy label embeddings given to the method: the map starts weak."""
    rng = np.random.default_rng(seed)
    s_all = rng.normal(size=(12, 6))
    s_all /= np.linalg.norm(s_all, axis=1, keepdims=True)
    mix = rng.normal(size=(6, 20))
    given = s_all + noise * rng.normal(size=s_all.shape)

    def draw(n):
        y = np.repeat(np.arange(12), n)
        return s_all[y] @ mix + 0.3 * rng.normal(size=(len(y), 20)), y

    return given, draw(30), draw(20)


def test_self_training_first_round_by_hand_and_the_pool_labels_are_never_read(monkeypatch):
    import transferkit.zeroshot.protocol as protocol
    from transferkit.zeroshot.protocol import choose_gamma, self_train

    s_given, (x_tr, y_tr), (x_te, y_te) = _weak_toy(1, 0.6)
    seen, unseen = np.arange(9), np.array([9, 10, 11])
    space = LabelSpace(lambda texts: None)
    make = lambda: ZSL_METHODS.build("eszsl", {"gamma": 1.0, "lam": 0.1})  # noqa: E731
    keep = y_tr < 9
    x, y, s = x_tr[keep], y_tr[keep], centred(s_given, seen)
    gamma = choose_gamma(make, x, x, y, seen, s, space)["gamma"]
    start = make().fit(x, y, s[seen], space)
    monkeypatch.setattr(protocol, "SELF_TRAINING", (0.5,))
    model, info = self_train(make, x, x, y, (x_te, x_te), seen, unseen, s, space, gamma, start)
    # by hand: stacked argmax decides "unseen"; among those, the top-margin 5 per class
    # (the quota: 0.5 x 240 test images / 12 classes = 10)
    scores = x_te @ start.v_ @ s.T
    scale = (x @ start.v_ @ s.T).std()
    stacked = scores.copy()
    stacked[:, seen] -= gamma * scale
    among = scores[:, unseen]
    top = np.sort(among, axis=1)
    margin, label = top[:, -1] - top[:, -2], among.argmax(axis=1)
    quota = round(0.5 * len(x_te) / 12)
    rows, labels = [], []
    for k in range(3):
        cand = np.flatnonzero(np.isin(stacked.argmax(axis=1), unseen) & (label == k))
        cand = cand[np.argsort(-margin[cand], kind="stable")][:quota]
        rows.append(cand)
        labels.append(np.full(len(cand), 9 + k))
    rows, labels = np.concatenate(rows), np.concatenate(labels)
    hand = eszsl_matrix(np.concatenate([x, x_te[rows]]), np.concatenate([y, labels]), s, 1.0, 0.1)
    assert np.allclose(model.v_, hand)
    assert info["rounds"][0]["quota_per_class"] == quota
    assert sum(info["rounds"][0]["pseudo_labelled"].values()) == len(rows)
    # evaluate(transductive=True) reads the test images, never their labels
    monkeypatch.undo()
    a = evaluate(make, (x_tr, x_tr, y_tr), (x_te, x_te, y_te), seen, unseen, s_given, space, transductive=True)
    b = evaluate(make, (x_tr, x_tr, y_tr), (x_te, x_te, np.random.default_rng(0).permutation(y_te)), seen,
                 unseen, s_given, space, transductive=True)
    assert np.array_equal(a["model"].v_, b["model"].v_)
    assert len(a["self_training"]["rounds"]) == len(protocol.SELF_TRAINING)


def test_self_training_lifts_a_weak_map_and_refuses_methods_without_one():
    s_given, train, test = _weak_toy(1, 0.6)
    seen, unseen = np.arange(9), np.array([9, 10, 11])
    space = LabelSpace(lambda texts: None)
    make = lambda: ZSL_METHODS.build("eszsl", {"gamma": 1.0, "lam": 0.1})  # noqa: E731
    before = evaluate(make, (train[0], *train), (test[0], *test), seen, unseen, s_given, space)
    after = evaluate(make, (train[0], *train), (test[0], *test), seen, unseen, s_given, space, transductive=True)
    assert after["zsl_accuracy"] >= before["zsl_accuracy"] + 0.2  # 0.37 -> 0.67 on this draw
    with pytest.raises(ConfigError, match="learns no map"):
        evaluate(lambda: ZSL_METHODS.build("random", None), (train[0], *train), (test[0], *test), seen, unseen,
                 s_given, space, transductive=True)
