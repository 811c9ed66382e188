"""xgboost_objective / lightgbm_objective: real models, trained against the built-in objectives.

With λ = 0 and no minimum hessian per child, a tree's splits depend on the ratio G²/H and its
leaves on -G/H, so an objective whose gradient and hessian are a constant multiple of a
built-in's grows the same trees with the same leaves: fastloss's ``mse`` (2d, 2) against
``reg:squarederror`` (d, 1). Where only the hessian is scaled (XGBoost's multi:softprob uses
2p(1-p), LightGBM's multiclass K/(K-1)·p(1-p)), the learning rate compensates.
"""

from __future__ import annotations

import math
import subprocess
import sys
from typing import Any

import fastloss
import lightgbm as lgb
import numpy as np
import pytest
import xgboost as xgb
from fastloss._gbdt import GRADIENT_BOOSTING_LOSSES
from fastloss._names import ROWS
from fastloss._registry import BY_NAME
from numpy.typing import NDArray
from reference import sigmoid_focal_terms

N = 400
K = 4
ROUNDS = 8


def _data() -> dict[str, NDArray[Any]]:
    rng = np.random.default_rng(6)
    x = rng.normal(size=(N, 4))
    signal = 2.0 * x[:, 0] + np.sin(2.0 * x[:, 1])
    rate = np.exp(0.4 * signal)
    # Compound Poisson-Gamma amounts (zeros where no event happened), as Tweedie models.
    events = rng.poisson(0.8 * rate)
    claims = np.array([rng.gamma(2.0, 1.5, k).sum() for k in events])
    return {
        "x": x,
        "y": (signal + rng.normal(0.0, 0.3, N)).astype(np.float32),
        "count": rng.poisson(rate).astype(np.float32),
        "amount": rng.gamma(2.0, rate / 2.0).astype(np.float32),
        "claims": claims.astype(np.float32),
        "binary": (signal + rng.normal(0.0, 1.0, N) > 0).astype(np.float32),
        "classes": np.digitize(signal + 0.5 * x[:, 2], [-1.5, 0.0, 1.5]).astype(np.float32),
        "weight": rng.uniform(0.2, 2.0, N).astype(np.float32),
    }


DATA = _data()
#: The labels of DATA in each target domain of the registry.
LABELS = {
    "real": "y",
    "probability": "binary",
    "classes": "classes",
    "nonnegative": "count",
    "positive": "amount",
}
WEIGHTS = pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
# One thread: on data this small XGBoost's threads mostly wait for each other, seconds a model
# on a busy machine against milliseconds.
XGB = {
    "reg_lambda": 0.0,
    "min_child_weight": 0.0,
    "max_depth": 3,
    "tree_method": "exact",
    "nthread": 1,
}
LGB = {
    "verbose": -1,
    "num_leaves": 8,
    "min_data_in_leaf": 5,
    "min_sum_hessian_in_leaf": 0.0,
    "lambda_l2": 0.0,
    "boost_from_average": False,
    "deterministic": True,
    "num_threads": 1,
}


def _weight(weighted: bool) -> NDArray[np.float32] | None:
    return DATA["weight"] if weighted else None


def _xgb_margins(
    label: str,
    weighted: bool,
    params: dict[str, Any],
    obj: Any = None,
    base_margin: NDArray[np.float32] | None = None,
) -> NDArray[np.float32]:
    dtrain = xgb.DMatrix(
        DATA["x"], label=DATA[label], weight=_weight(weighted), base_margin=base_margin
    )
    booster = xgb.train({**XGB, **params}, dtrain, ROUNDS, obj=obj)
    margins: NDArray[np.float32] = booster.predict(dtrain, output_margin=True)
    return margins


def _lgb_scores(
    label: str,
    weighted: bool,
    params: dict[str, Any],
    init_score: NDArray[np.float64] | None = None,
) -> NDArray[np.float64]:
    train = lgb.Dataset(
        DATA["x"], label=DATA[label], weight=_weight(weighted), init_score=init_score
    )
    booster = lgb.train({**LGB, **params}, train, ROUNDS)
    scores: NDArray[np.float64] = np.asarray(booster.predict(DATA["x"], raw_score=True))
    return scores


# -- XGBoost against its built-in objectives ---------------------------------------------------


@WEIGHTS
def test_xgboost_mse_is_reg_squarederror(weighted: bool) -> None:
    params = {"eta": 0.3, "base_score": 0.0}
    builtin = _xgb_margins("y", weighted, {**params, "objective": "reg:squarederror"})
    ours = _xgb_margins("y", weighted, params, fastloss.xgboost_objective("mse"))
    assert np.abs(builtin).max() > 1.0  # a model that learned something
    np.testing.assert_allclose(ours, builtin, rtol=0, atol=1e-6)


@WEIGHTS
def test_xgboost_bce_with_logits_is_binary_logistic(weighted: bool) -> None:
    # base_score is a probability for binary:logistic (0.5: margin 0), a margin for ours.
    builtin = _xgb_margins(
        "binary", weighted, {"eta": 0.3, "objective": "binary:logistic", "base_score": 0.5}
    )
    obj = fastloss.xgboost_objective("binary_cross_entropy_with_logits")
    ours = _xgb_margins("binary", weighted, {"eta": 0.3, "base_score": 0.0}, obj)
    assert np.abs(builtin).max() > 1.0
    np.testing.assert_allclose(ours, builtin, rtol=0, atol=1e-5)


def test_xgboost_focal_without_focusing_is_binary_logistic() -> None:
    # alpha=None, gamma=0: the focal loss is BCE with logits, so the trees are binary:logistic's.
    # (Unweighted: with these weights two candidate splits tie to the last bit, and the float32
    # gradients, within 2 ulp of BCE's, may pick either.)
    weighted = False
    builtin = _xgb_margins(
        "binary", weighted, {"eta": 0.3, "objective": "binary:logistic", "base_score": 0.5}
    )
    obj = fastloss.xgboost_objective("sigmoid_focal", alpha=None, gamma=0.0)
    ours = _xgb_margins("binary", weighted, {"eta": 0.3, "base_score": 0.0}, obj)
    assert np.abs(builtin).max() > 1.0
    np.testing.assert_allclose(ours, builtin, rtol=0, atol=1e-5)


def _focal_reference_objective(alpha: float | None, gamma: float) -> Any:
    """XGBoost's objective from the NumPy formulas of ``sigmoid_focal`` (tests/reference.py),
    the hessian floored at 1e-16 as fastloss's default floor does."""

    def obj(preds: NDArray[Any], dtrain: Any) -> tuple[NDArray[Any], NDArray[Any]]:
        x = np.asarray(preds, dtype=np.float64)
        t = np.asarray(dtrain.get_label(), dtype=np.float64)
        _, g, h = sigmoid_focal_terms(x, t, alpha, gamma)
        return g, np.maximum(h, 1e-16)

    return obj


@pytest.mark.parametrize(("alpha", "gamma"), [(0.25, 2.0), (None, 0.5), (0.6, 1.0)])
def test_xgboost_focal_is_its_formula(alpha: float | None, gamma: float) -> None:
    """sigmoid_focal's objective grows the trees its NumPy formulas grow."""
    params = {"eta": 0.3, "base_score": 0.0}
    ours = _xgb_margins(
        "binary",
        False,
        params,
        fastloss.xgboost_objective("sigmoid_focal", alpha=alpha, gamma=gamma),
    )
    ref = _xgb_margins("binary", False, params, _focal_reference_objective(alpha, gamma))
    assert np.abs(ref).max() > 0.5
    np.testing.assert_allclose(ours, ref, rtol=0, atol=1e-5)


@WEIGHTS
def test_lightgbm_focal_without_focusing_is_binary(weighted: bool) -> None:
    obj = fastloss.lightgbm_objective("sigmoid_focal", alpha=None, gamma=0.0)
    ours = _lgb_scores("binary", weighted, {"learning_rate": 0.3, "objective": obj})
    builtin = _lgb_scores("binary", weighted, {"learning_rate": 0.3, "objective": "binary"})
    assert np.abs(builtin).max() > 1.0
    np.testing.assert_allclose(ours, builtin, rtol=0, atol=1e-5)


def test_lightgbm_focal_trains_and_refuses_labels_outside_01() -> None:
    obj = fastloss.lightgbm_objective("sigmoid_focal")
    scores = _lgb_scores("binary", False, {"learning_rate": 0.3, "objective": obj})
    assert np.abs(scores).max() > 0.1
    with pytest.raises(ValueError, match=r"target must be in \[0, 1\], got 2\.0 at flat index 0"):
        bad = np.full(N, 2.0, dtype=np.float32)
        lgb.train({**LGB, "objective": obj}, lgb.Dataset(DATA["x"], label=bad), 1)


@WEIGHTS
def test_xgboost_cross_entropy_is_multi_softprob(weighted: bool) -> None:
    # multi:softprob's hessian is 2p(1-p), fastloss's the exact p(1-p): the same trees at
    # half the learning rate.
    params = {"num_class": K, "base_score": 0.0}
    builtin = _xgb_margins(
        "classes", weighted, {**params, "eta": 0.3, "objective": "multi:softprob"}
    )
    obj = fastloss.xgboost_objective("cross_entropy")
    ours = _xgb_margins("classes", weighted, {**params, "eta": 0.15}, obj)
    assert ours.shape == builtin.shape == (N, K)
    assert np.mean(builtin.argmax(axis=1) == DATA["classes"]) > 0.8
    np.testing.assert_allclose(ours, builtin, rtol=0, atol=1e-5)


def test_xgboost_objective_shapes_and_weights() -> None:
    """The callable alone, on a DMatrix: shapes, dtype, weights and the hessian floor."""
    w = DATA["weight"].copy()
    w[:3] = 0.0
    dtrain = xgb.DMatrix(DATA["x"], label=DATA["classes"], weight=w)
    preds = np.random.default_rng(1).normal(size=(N, K)).astype(np.float32)
    grad, hess = fastloss.xgboost_objective("cross_entropy")(preds, dtrain)
    assert grad.shape == hess.shape == (N, K) and grad.dtype == np.float32
    g1, h1 = fastloss.cross_entropy_grad_hess(preds, DATA["classes"].astype(np.int64))
    np.testing.assert_allclose(grad, g1 * w[:, None], rtol=1e-6)
    np.testing.assert_allclose(hess, np.maximum(h1, 1e-16) * w[:, None], rtol=1e-6)
    assert not grad[:3].any() and not hess[:3].any()

    dtrain = xgb.DMatrix(DATA["x"], label=DATA["y"], weight=w)
    pred = np.zeros(N, dtype=np.float32)
    grad, hess = fastloss.xgboost_objective("mae")(pred, dtrain)
    np.testing.assert_array_equal(grad, np.sign(-DATA["y"]) * w)
    # MAE's second derivative is 0: floored at 1 (times the weight) by default.
    np.testing.assert_array_equal(hess, w)
    _, hess = fastloss.xgboost_objective("mae", min_hessian=0.25)(pred, dtrain)
    np.testing.assert_array_equal(hess, 0.25 * w)
    _, hess = fastloss.xgboost_objective("huber", delta=100.0, min_hessian=0.0)(pred, dtrain)
    np.testing.assert_array_equal(hess, w)  # every |d| < 100: the exact hessian 1


#: The log-link losses: (fastloss name and parameters, label, XGBoost's objective, LightGBM's).
#: XGBoost's count:poisson and LightGBM's poisson take exp(η + max_delta_step) for the
#: hessian: with the step 0 it is fastloss's exp(η). LightGBM wants a step > 0: ln 2 doubles
#: its hessian, and twice the learning rate compensates (the leaves are -G/H).
LOG_LINK: list[tuple[str, dict[str, float], str, dict[str, Any], dict[str, Any]]] = [
    (
        "poisson",
        {},
        "count",
        {"objective": "count:poisson", "max_delta_step": 0.0},
        {"objective": "poisson", "poisson_max_delta_step": math.log(2.0), "learning_rate": 0.6},
    ),
    ("gamma", {}, "amount", {"objective": "reg:gamma"}, {"objective": "gamma"}),
    (
        "tweedie",
        {"power": 1.5},
        "claims",
        {"objective": "reg:tweedie", "tweedie_variance_power": 1.5},
        {"objective": "tweedie", "tweedie_variance_power": 1.5},
    ),
    (
        "tweedie",
        {"power": 1.2},
        "claims",
        {"objective": "reg:tweedie", "tweedie_variance_power": 1.2},
        {"objective": "tweedie", "tweedie_variance_power": 1.2},
    ),
]
LOG_LINK_IDS = [f"{c[0]}{c[1].get('power', '')}" for c in LOG_LINK]


def _log_mean(label: str) -> NDArray[np.float32]:
    """The same base margin for both models: the log of the mean label."""
    return np.full(N, np.log(DATA[label].mean()), dtype=np.float32)


@WEIGHTS
@pytest.mark.parametrize(("name", "params", "label", "builtin", "_"), LOG_LINK, ids=LOG_LINK_IDS)
def test_xgboost_log_link_losses_are_the_builtins(
    name: str,
    params: dict[str, float],
    label: str,
    builtin: dict[str, Any],
    _: dict[str, Any],
    weighted: bool,
) -> None:
    margin = _log_mean(label)
    theirs = _xgb_margins(label, weighted, {"eta": 0.3, **builtin}, base_margin=margin)
    obj = fastloss.xgboost_objective(name, **params)
    ours = _xgb_margins(label, weighted, {"eta": 0.3}, obj, base_margin=margin)
    y, w = DATA[label], _weight(weighted)
    loss = getattr(fastloss, name)
    assert loss(ours, y, sample_weight=w, **params) < loss(margin, y, sample_weight=w, **params)
    assert np.abs(theirs - margin).max() > 0.1
    np.testing.assert_allclose(ours, theirs, rtol=0, atol=1e-5)


@WEIGHTS
@pytest.mark.parametrize(("name", "params", "label", "_", "builtin"), LOG_LINK, ids=LOG_LINK_IDS)
def test_lightgbm_log_link_losses_are_the_builtins(
    name: str,
    params: dict[str, float],
    label: str,
    _: dict[str, Any],
    builtin: dict[str, Any],
    weighted: bool,
) -> None:
    init = _log_mean(label).astype(np.float64)
    theirs = _lgb_scores(label, weighted, {"learning_rate": 0.3, **builtin}, init)
    obj = fastloss.lightgbm_objective(name, **params)
    ours = _lgb_scores(label, weighted, {"learning_rate": 0.3, "objective": obj}, init)
    assert np.abs(theirs).max() > 0.1
    np.testing.assert_allclose(ours, theirs, rtol=0, atol=1e-5)


@pytest.mark.parametrize("name", GRADIENT_BOOSTING_LOSSES)
def test_every_loss_trains_an_xgboost_model(name: str) -> None:
    # Labels in the loss's target domain; tweedie's are its own compound Poisson-Gamma claims.
    label = "claims" if name == "tweedie" else LABELS[BY_NAME[name].target]
    params: dict[str, Any] = {"num_class": K} if name == "cross_entropy" else {}
    # The probabilities of binary_cross_entropy start at 0.5 and take small steps.
    start, eta = (0.5, 0.05) if name == "binary_cross_entropy" else (0.0, 0.3)
    params.update(eta=eta, base_score=start)
    dtrain = xgb.DMatrix(DATA["x"], label=DATA[label], weight=DATA["weight"])
    booster = xgb.train({**XGB, **params}, dtrain, ROUNDS, obj=fastloss.xgboost_objective(name))
    pred = booster.predict(dtrain, output_margin=True)
    loss = getattr(fastloss, name)
    target: NDArray[Any] = DATA[label]
    if name == "cross_entropy":
        target = target.astype(np.int64)
        before = loss(np.zeros_like(pred), target, sample_weight=DATA["weight"])
    else:
        before = loss(np.full_like(pred, start), target, sample_weight=DATA["weight"])
    after = loss(pred, target, sample_weight=DATA["weight"])
    assert after < 0.8 * before, (name, before, after)


# -- LightGBM ------------------------------------------------------------------------------------


@WEIGHTS
def test_lightgbm_huber_trains_and_is_the_builtin_huber(weighted: bool) -> None:
    # LightGBM's huber: gradient clamp(d, -δ, δ), hessian 1 = fastloss's with the default floor.
    ours = _lgb_scores(
        "y",
        weighted,
        {"learning_rate": 0.3, "objective": fastloss.lightgbm_objective("huber", delta=1.0)},
    )
    builtin = _lgb_scores("y", weighted, {"learning_rate": 0.3, "objective": "huber", "alpha": 1.0})
    y = DATA["y"]
    assert fastloss.huber(ours, y) < 0.5 * fastloss.huber(np.zeros_like(y), y)
    np.testing.assert_allclose(ours, builtin, rtol=0, atol=1e-9)


@WEIGHTS
def test_lightgbm_mse_is_regression(weighted: bool) -> None:
    ours = _lgb_scores(
        "y", weighted, {"learning_rate": 0.3, "objective": fastloss.lightgbm_objective("mse")}
    )
    builtin = _lgb_scores("y", weighted, {"learning_rate": 0.3, "objective": "regression"})
    np.testing.assert_allclose(ours, builtin, rtol=0, atol=1e-6)


@WEIGHTS
def test_lightgbm_bce_with_logits_is_binary(weighted: bool) -> None:
    obj = fastloss.lightgbm_objective("binary_cross_entropy_with_logits")
    ours = _lgb_scores("binary", weighted, {"learning_rate": 0.3, "objective": obj})
    builtin = _lgb_scores("binary", weighted, {"learning_rate": 0.3, "objective": "binary"})
    assert np.abs(builtin).max() > 1.0
    np.testing.assert_allclose(ours, builtin, rtol=0, atol=1e-5)


@WEIGHTS
def test_lightgbm_cross_entropy_is_multiclass(weighted: bool) -> None:
    # LightGBM's multiclass hessian is K/(K-1)·p(1-p): the same trees at (K-1)/K of the rate.
    params = {"num_class": K}
    builtin = _lgb_scores(
        "classes", weighted, {**params, "learning_rate": 0.4, "objective": "multiclass"}
    )
    obj = fastloss.lightgbm_objective("cross_entropy")
    ours = _lgb_scores("classes", weighted, {**params, "learning_rate": 0.3, "objective": obj})
    assert ours.shape == builtin.shape == (N, K)
    assert np.mean(builtin.argmax(axis=1) == DATA["classes"]) > 0.8
    np.testing.assert_allclose(ours, builtin, rtol=0, atol=1e-5)


# -- bad input -----------------------------------------------------------------------------------


@pytest.mark.parametrize("make", [fastloss.xgboost_objective, fastloss.lightgbm_objective])
def test_bad_arguments_are_named(make: Any) -> None:
    with pytest.raises(ValueError, match="name: unknown loss 'hubber'"):
        make("hubber")
    with pytest.raises(ValueError, match="delta"):
        make("huber", delta=-1.0)
    with pytest.raises(ValueError, match="q"):
        make("pinball", q=1.5)
    with pytest.raises(TypeError, match="delt"):
        make("huber", delt=1.0)
    with pytest.raises(TypeError, match="sample_weight"):
        make("mse", sample_weight=np.ones(3))
    with pytest.raises(TypeError, match="reduction"):
        make("mse", reduction="mean")
    with pytest.raises(ValueError, match=r"min_hessian: must be finite and >= 0, got -1\.0"):
        make("mae", min_hessian=-1.0)
    with pytest.raises(TypeError, match="min_hessian"):
        make("mae", min_hessian="1")


def test_bad_shapes_and_labels_are_named() -> None:
    ce = fastloss.xgboost_objective("cross_entropy")
    dtrain = xgb.DMatrix(DATA["x"], label=DATA["y"])
    with pytest.raises(
        ValueError, match=r"preds: cross_entropy needs raw scores of shape \(n, K\)"
    ):
        ce(np.zeros(N, dtype=np.float32), dtrain)
    with pytest.raises(ValueError, match="label: class indices must be integers"):
        ce(np.zeros((N, K), dtype=np.float32), dtrain)
    dtrain = xgb.DMatrix(DATA["x"], label=DATA["classes"])
    with pytest.raises(ValueError, match="label"):  # the kernel names the class out of range
        ce(np.zeros((N, 2), dtype=np.float32), dtrain)
    with pytest.raises(ValueError, match=r"preds: shape \(400, 4\) does not match the 400 labels"):
        fastloss.xgboost_objective("mse")(np.zeros((N, K), dtype=np.float32), dtrain)
    bce = fastloss.xgboost_objective("binary_cross_entropy")
    dtrain = xgb.DMatrix(DATA["x"], label=DATA["binary"])
    with pytest.raises(ValueError, match="input"):  # raw scores outside [0, 1]
        bce(np.full(N, 1.5, dtype=np.float32), dtrain)


# -- array parameters: one value per class or output, checked against the real K ----------------

SMALL = 150
LIBRARIES = pytest.mark.parametrize("library", ["xgboost", "lightgbm"])


class _Dataset:
    """What the objectives read of a DMatrix or a Dataset."""

    def __init__(self, label: NDArray[Any], weight: NDArray[Any] | None = None) -> None:
        self.label, self.weight = label, weight

    def get_label(self) -> NDArray[Any]:
        return self.label

    def get_weight(self) -> NDArray[Any] | None:
        return self.weight


def _make(library: str) -> Any:
    return fastloss.xgboost_objective if library == "xgboost" else fastloss.lightgbm_objective


def _train_small(library: str, obj: Any, label: NDArray[Any], **params: Any) -> NDArray[Any]:
    """Two rounds on SMALL rows: the raw scores."""
    x = DATA["x"][:SMALL]
    if library == "xgboost":
        dtrain = xgb.DMatrix(x, label=label)
        booster = xgb.train({**XGB, "base_score": 0.0, **params}, dtrain, 2, obj=obj)
        margins: NDArray[Any] = booster.predict(dtrain, output_margin=True)
        return margins
    model = lgb.train({**LGB, "objective": obj, **params}, lgb.Dataset(x, label=label), 2)
    return np.asarray(model.predict(x, raw_score=True))


@LIBRARIES
def test_class_weight_has_one_value_per_class(library: str) -> None:
    """class_weight is checked against the K of the raw scores, in the first round: a length-3
    one trains a 3-class model, a length-2 one is refused there, naming it, 2 and K = 3."""
    label = np.minimum(DATA["classes"][:SMALL], 2)
    cw = np.array([1.0, 2.0, 3.0])
    obj = _make(library)("cross_entropy", class_weight=cw)
    preds = np.random.default_rng(2).normal(size=(SMALL, 3)).astype(np.float32)
    grad, hess = obj(preds, _Dataset(label))
    want = fastloss.cross_entropy_grad_hess(preds, label.astype(np.int64), class_weight=cw)
    np.testing.assert_allclose(grad, want[0], rtol=1e-6)
    np.testing.assert_allclose(hess, np.maximum(want[1], 1e-16), rtol=1e-6)
    scores = _train_small(library, obj, label, num_class=3)
    assert scores.shape == (SMALL, 3) and np.isfinite(scores).all()

    short = _make(library)("cross_entropy", class_weight=[1.0, 2.0])
    with pytest.raises(
        ValueError, match=r"class_weight: has length 2, but the raw scores have K = 3 classes"
    ):
        _train_small(library, short, label, num_class=3)


@LIBRARIES
def test_pos_weight_has_one_value_per_output(library: str) -> None:
    """pos_weight of binary_cross_entropy_with_logits has one value per output: [3.0] weighs
    the positives of a one-output model by 3 (in every round), [3.0, 1.0] is refused in the
    first round, naming it, 2 and K = 1."""
    label = DATA["binary"][:SMALL]
    obj = _make(library)("binary_cross_entropy_with_logits", pos_weight=[3.0])
    preds = np.random.default_rng(3).normal(size=SMALL).astype(np.float32)
    grad, hess = obj(preds, _Dataset(label))
    g, h = fastloss.binary_cross_entropy_with_logits_grad_hess(preds, label)
    positive = label == 1.0
    np.testing.assert_allclose(grad, np.where(positive, 3.0 * g, g), rtol=1e-6)
    np.testing.assert_allclose(hess, np.maximum(np.where(positive, 3.0 * h, h), 1e-16), rtol=1e-6)
    assert np.isfinite(_train_small(library, obj, label)).all()

    two = _make(library)("binary_cross_entropy_with_logits", pos_weight=[3.0, 1.0])
    with pytest.raises(
        ValueError, match=r"pos_weight: has length 2, but the raw scores have K = 1 outputs"
    ):
        _train_small(library, two, label)


def test_pos_weight_of_a_multi_output_model() -> None:
    """XGBoost's multi-output model (labels of shape (n, 3)): raw scores (n, 3), one pos_weight
    per output."""
    labels = np.stack(
        [DATA["binary"][:SMALL], 1.0 - DATA["binary"][:SMALL], DATA["binary"][SMALL : 2 * SMALL]],
        axis=1,
    )
    obj = fastloss.xgboost_objective("binary_cross_entropy_with_logits", pos_weight=[1.0, 2.0, 3.0])
    scores = _train_small("xgboost", obj, labels, tree_method="hist")
    assert scores.shape == (SMALL, 3) and np.isfinite(scores).all()
    one = fastloss.xgboost_objective("binary_cross_entropy_with_logits", pos_weight=[3.0])
    with pytest.raises(ValueError, match=r"pos_weight: has length 1, but .* K = 3 outputs"):
        _train_small("xgboost", one, labels, tree_method="hist")
    # XGBRegressor on the same labels: the same model, and the same check.
    params = {**XGB, "tree_method": "hist", "n_estimators": 2, "base_score": 0.0}
    x = DATA["x"][:SMALL]
    model = xgb.XGBRegressor(objective=obj, **params).fit(x, labels)
    np.testing.assert_array_equal(model.predict(x, output_margin=True), scores)
    with pytest.raises(ValueError, match=r"pos_weight: has length 1, but .* K = 3 outputs"):
        xgb.XGBRegressor(objective=one, **params).fit(x, labels)


@pytest.mark.parametrize("make", [fastloss.xgboost_objective, fastloss.lightgbm_objective])
def test_array_parameters_otherwise_checked_at_creation(make: Any) -> None:
    """Only the length waits for K: the values, and one value per class or output, are checked
    when the objective is made."""
    with pytest.raises(ValueError, match="class_weight"):
        make("cross_entropy", class_weight=[1.0, np.nan, 3.0])
    with pytest.raises(ValueError, match="pos_weight"):
        make("binary_cross_entropy_with_logits", pos_weight=[np.inf])
    with pytest.raises(
        ValueError, match=r"class_weight: expected a 1-D array, .* got shape \(1, 3\)"
    ):
        make("cross_entropy", class_weight=[[1.0, 2.0, 3.0]])
    with pytest.raises(TypeError, match="delta"):
        make("huber", delta=[1.0])


# -- negative sample weights ---------------------------------------------------------------------

#: The weights, every fifth one negative.
NEGATIVE = np.where(np.arange(N) % 5 == 0, -DATA["weight"], DATA["weight"])


@pytest.mark.parametrize(
    ("name", "params", "floor"),
    [
        ("mae", {}, 1.0),
        ("huber", {"delta": 0.5}, 1.0),
        ("mse", {}, 1e-16),
        ("binary_cross_entropy_with_logits", {}, 1e-16),
        ("cross_entropy", {}, 1e-16),
    ],
)
def test_negative_weights_multiply_gradient_and_floored_hessian(
    name: str, params: dict[str, Any], floor: float
) -> None:
    """As in the libraries' built-in objectives, a weight multiplies the gradient and the
    hessian whatever its sign; the floor applies to the hessian before: w·max(h, floor), negative
    where w is. (LightGBM takes negative weights, XGBoost's DMatrix refuses them; the two
    objectives are the same code.)"""
    label = DATA[{"cross_entropy": "classes"}.get(name, "binary" if "binary" in name else "y")]
    shape = (N, K) if name == "cross_entropy" else (N,)
    preds = np.random.default_rng(4).normal(size=shape).astype(np.float32)
    target = label.astype(np.int64) if name == "cross_entropy" else label
    g, h = getattr(fastloss, f"{name}_grad_hess")(preds, target, **params)
    w = NEGATIVE.reshape(-1, *[1] * (len(shape) - 1))
    grad, hess = fastloss.lightgbm_objective(name, **params)(preds, _Dataset(label, NEGATIVE))
    np.testing.assert_allclose(grad, g * w, rtol=1e-6)
    np.testing.assert_allclose(hess, np.maximum(h, floor) * w, rtol=1e-6)
    assert (hess[NEGATIVE < 0] < 0).all()


@pytest.mark.parametrize(
    ("name", "params", "builtin"),
    [
        ("mse", {}, {"objective": "regression"}),
        ("huber", {"delta": 1.0}, {"objective": "huber", "alpha": 1.0}),
    ],
    ids=["mse", "huber"],
)
def test_lightgbm_negative_weights_as_the_builtin(
    name: str, params: dict[str, Any], builtin: dict[str, Any]
) -> None:
    """LightGBM takes negative weights: the same model as its built-in objective (mse's
    gradient and hessian are twice regression's, the same trees with lambda_l2 = 0; huber's
    are the built-in's exactly, hessian w where |d| > δ too)."""

    def scores(**objective: Any) -> NDArray[np.float64]:
        train = lgb.Dataset(DATA["x"], label=DATA["y"], weight=NEGATIVE)
        booster = lgb.train({**LGB, "learning_rate": 0.3, **objective}, train, ROUNDS)
        return np.asarray(booster.predict(DATA["x"], raw_score=True))

    want = scores(**builtin)
    got = scores(objective=fastloss.lightgbm_objective(name, **params))
    assert np.abs(want).max() > 0.5
    # Leaves -G/H over hessians of both signs are large: equal to float32's rounding.
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


# -- the scikit-learn wrappers: the same model as the native call --------------------------------

#: Fewer rows and rounds than above: one model per loss, wrapper and weighting, in CI's budget.
SK_ROWS = 200
SK_ROUNDS = 4
#: Positive amounts, for the target domains other than real numbers, probabilities and classes
#: (y ≥ 0, y > 0): they lie in both.
POSITIVE = (
    np.exp(0.5 * DATA["y"][:SK_ROWS]) * np.random.default_rng(7).gamma(4.0, 0.25, SK_ROWS)
).astype(np.float32)


def _sklearn_task(name: str) -> tuple[bool, NDArray[Any]]:
    """Whether loss ``name`` belongs in a classifier, and labels in its target domain, from
    the registry: losses on logits of classes or of probabilities go in the classifiers (their
    predict_proba is the sigmoid or softmax of the raw scores), the others in the regressors
    (binary_cross_entropy too: its raw scores are the probabilities)."""
    loss = BY_NAME[name]
    if loss.target == "classes":
        return True, DATA["classes"][:SK_ROWS]
    if loss.target == "probability":
        return loss.input == "real", DATA["binary"][:SK_ROWS]
    # Real targets, unless the loss refuses them (a domain y >= 0 or y > 0, whatever the
    # registry calls it): then positive amounts, which lie in both.
    label = DATA["y"][:SK_ROWS]
    try:
        getattr(fastloss, f"{name}_grad_hess")(np.zeros_like(label), label)
    except ValueError:
        label = POSITIVE
    return False, label


def _native_and_wrapper(
    library: str, name: str, weight: NDArray[Any] | None
) -> tuple[NDArray[Any], NDArray[Any]]:
    """Raw scores of the same model trained by the native call and by the scikit-learn
    wrapper, both with ``objective = <library>_objective(name)``."""
    classifier, label = _sklearn_task(name)
    x = DATA["x"][:SK_ROWS]
    multiclass = name in ROWS
    # Raw scores that are probabilities start at 0.5 and take small steps.
    start, rate = (0.5, 0.05) if BY_NAME[name].input == "probability" else (0.0, 0.3)
    if library == "xgboost":
        obj = fastloss.xgboost_objective(name)
        extra = {"num_class": K} if multiclass else {}
        dtrain = xgb.DMatrix(x, label=label, weight=weight)
        booster = xgb.train(
            {**XGB, "eta": rate, "base_score": start, **extra}, dtrain, SK_ROUNDS, obj=obj
        )
        native = booster.predict(dtrain, output_margin=True)
        # The classifier runs binary:logistic beside a custom objective, which reads base_score
        # as a probability: 0.5 is the margin 0 (for K > 2 classes, multi:softprob reads a margin).
        base = 0.5 if classifier and not multiclass else start
        cls = xgb.XGBClassifier if classifier else xgb.XGBRegressor
        model = cls(
            objective=obj, n_estimators=SK_ROUNDS, learning_rate=rate, base_score=base, **XGB
        )
        model.fit(x, label, sample_weight=weight)
        return native, model.predict(x, output_margin=True)
    fobj = fastloss.lightgbm_objective(name)
    extra = {"num_class": K} if multiclass else {}
    # A custom objective starts from 0, or from init_score; raw scores leave it out.
    init = None if start == 0.0 else np.full(SK_ROWS, start)
    train = lgb.Dataset(x, label=label, weight=weight, init_score=init)
    trained = lgb.train(
        {**LGB, "objective": fobj, "learning_rate": rate, **extra}, train, SK_ROUNDS
    )
    native = np.asarray(trained.predict(x, raw_score=True)) + start
    lgbm = lgb.LGBMClassifier if classifier else lgb.LGBMRegressor
    estimator = lgbm(
        objective=fobj,
        n_estimators=SK_ROUNDS,
        learning_rate=rate,
        # LGB's parameters under the wrapper's names (an alias beside them draws a warning).
        num_leaves=8,
        min_child_samples=5,
        min_child_weight=0.0,
        reg_lambda=0.0,
        n_jobs=1,
        verbose=-1,
        boost_from_average=False,
        deterministic=True,
    )
    estimator.fit(x, label, sample_weight=weight, init_score=init)
    return native, np.asarray(estimator.predict(x, raw_score=True)) + start


# LightGBM 4.6 (the newest there is for CPython 3.9) under scikit-learn 1.6 names the columns of
# a NumPy X given to fit, then warns that the same X given to predict has no names.
@pytest.mark.filterwarnings("ignore:X does not have valid feature names:UserWarning")
@pytest.mark.parametrize("name", GRADIENT_BOOSTING_LOSSES)
@LIBRARIES
@WEIGHTS
def test_sklearn_wrapper_trains_the_native_model(library: str, name: str, weighted: bool) -> None:
    """XGBRegressor / XGBClassifier and LGBMRegressor / LGBMClassifier(objective=...) call the
    objective as (y_true, y_pred[, sample_weight]): the same raw scores as the native call on
    the same data, the weights given to fit applied."""
    weight = DATA["weight"][:SK_ROWS] if weighted else None
    native, wrapper = _native_and_wrapper(library, name, weight)
    np.testing.assert_array_equal(wrapper, native)
    _, label = _sklearn_task(name)
    target = label.astype(np.int64) if name in ROWS else label
    loss = getattr(fastloss, name)
    start = np.full_like(native, 0.5 if BY_NAME[name].input == "probability" else 0.0)
    assert loss(native, target, sample_weight=weight) < loss(start, target, sample_weight=weight)
    if weighted:  # the weights change the model: a wrapper dropping them would differ
        unweighted, _ = _native_and_wrapper(library, name, None)
        assert not np.allclose(unweighted, native, rtol=0, atol=1e-4)


@LIBRARIES
def test_sklearn_form_is_the_native_form(library: str) -> None:
    """Called as (y_true, y_pred[, sample_weight]), the objective returns what it returns for
    (preds, dataset) on the same labels and weights: the weights multiply the floored hessian,
    negative ones too."""
    preds = np.random.default_rng(5).normal(size=(N, K)).astype(np.float32)
    label = DATA["classes"]
    for name, scores, params in (
        ("cross_entropy", preds, {"class_weight": [1.0, 2.0, 0.5, 1.0]}),
        ("huber", preds[:, 0], {"delta": 0.5}),
        ("mse", preds[:, 0], {}),
    ):
        obj = _make(library)(name, **params)
        for weight in (None, DATA["weight"], NEGATIVE):
            want = obj(scores, _Dataset(label, weight))
            got = obj(label, scores) if weight is None else obj(label, scores, weight)
            np.testing.assert_array_equal(got[0], want[0])
            np.testing.assert_array_equal(got[1], want[1])
            kwarg = obj(label, scores, sample_weight=weight)  # as XGBoost's wrapper passes them
            np.testing.assert_array_equal(kwarg[1], want[1])
        # An empty weight array (a DMatrix without weights) is no weights.
        np.testing.assert_array_equal(obj(label, scores, np.empty(0))[1], obj(label, scores)[1])
    unweighted = _make(library)("mse")(label, preds[:, 0])
    np.testing.assert_array_equal(unweighted[1], np.full(N, 2.0, dtype=np.float32))


def test_sklearn_form_errors_name_its_arguments() -> None:
    ce = fastloss.lightgbm_objective("cross_entropy")
    with pytest.raises(ValueError, match=r"y_pred: cross_entropy needs raw scores of shape"):
        ce(DATA["classes"], np.zeros(N))
    with pytest.raises(
        ValueError, match=r"y_true: class indices must be integers, got 0\.5 at index 0"
    ):
        ce(np.full(N, 0.5), np.zeros((N, K)))
    with pytest.raises(ValueError, match=r"y_true: expected 400 class indices, got shape \(3,\)"):
        ce(np.zeros(3), np.zeros((N, K)))
    with pytest.raises(ValueError, match=r"y_pred: shape \(400, 4\) does not match the 400"):
        fastloss.xgboost_objective("mse")(DATA["y"], np.zeros((N, K)))
    with pytest.raises(ValueError, match="sample_weight"):  # the kernel names it
        fastloss.xgboost_objective("mse")(DATA["y"], np.zeros(N), np.ones(3))
    # The native form takes the dataset's weights, and no others.
    with pytest.raises(TypeError, match="sample_weight: the native form"):
        fastloss.xgboost_objective("mse")(np.zeros(N), _Dataset(DATA["y"]), DATA["weight"])


def test_objectives_import_no_library() -> None:
    """Making and calling the objectives, in both forms, imports none of the libraries they
    serve: fastloss's boosting support costs nothing to those without them."""
    code = (
        "import sys\n"
        "import numpy as np\n"
        "import fastloss\n"
        "class D:\n"
        "    def get_label(self): return np.zeros(3)\n"
        "    def get_weight(self): return None\n"
        "for make in (fastloss.xgboost_objective, fastloss.lightgbm_objective):\n"
        "    make('huber')(np.ones(3), D())\n"
        "    make('huber')(np.zeros(3), np.ones(3), np.ones(3))\n"
        "heavy = ('xgboost', 'lightgbm', 'sklearn', 'dask', 'matplotlib', 'torch', 'jax')\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in heavy)\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
