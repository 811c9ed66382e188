"""The table of losses and what is derived from it agree: the functions exist with the
registry's signatures and defaults, their docs are the registry's, and every docstring's
example gives what it says."""

from __future__ import annotations

import doctest
import inspect
import re
from typing import Any

import fastloss
import numpy as np
import pytest
from fastloss import _gbdt, _names, _native
from fastloss._registry import BY_NAME, FORMS, LOSSES

FUNCTIONS = [f for loss in LOSSES for f in loss.functions()]


def test_every_function_is_exported_once() -> None:
    assert len(set(FUNCTIONS)) == len(FUNCTIONS) == 4 * len(LOSSES)
    for name in FUNCTIONS:
        assert name in fastloss.__all__
        assert getattr(fastloss, name) is getattr(_native, name)
    others = set(fastloss.__all__) - set(FUNCTIONS)
    assert others == {
        "__version__",
        "get_num_threads",
        "info",
        "set_num_threads",
        "lightgbm_objective",
        "xgboost_objective",
    }


def test_name_lists_follow_the_registry() -> None:
    assert _names.LOSSES == tuple(loss.name for loss in LOSSES)
    assert _gbdt.GRADIENT_BOOSTING_LOSSES == tuple(x.name for x in LOSSES if x.boosting)
    assert set(_names.FLAT_HESSIAN) == {x.name for x in LOSSES if x.hessian != "exact"}


@pytest.mark.parametrize("name", FUNCTIONS)
def test_runtime_signature_is_the_registry(name: str) -> None:
    loss = BY_NAME[next(x.name for x in LOSSES if name in x.functions())]
    form = name[len(loss.name) :]
    sig = inspect.signature(getattr(fastloss, name))
    params = list(sig.parameters.values())
    assert [p.name for p in params[:2]] == ["input", "target"]
    assert all(p.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD for p in params[:2])
    keywords = {p.name: p.default for p in params[2:]}
    assert all(p.kind is inspect.Parameter.KEYWORD_ONLY for p in params[2:])
    expected: dict[str, Any] = {p.name: p.default for p in loss.params}
    expected["reduction"] = "none" if form == "_grad_hess" else "mean"
    expected["sample_weight"] = None
    if form in ("_grad", "_value_and_grad"):
        expected["out"] = None
    assert keywords == expected


def _example_args(loss: Any) -> tuple[Any, Any]:
    x = np.asarray(eval(loss.example.input), dtype=np.float64)  # the registry's literal
    t = np.asarray(eval(loss.example.target))
    return x, t


#: A target just outside each bounded target domain, and how the errors say the domain.
OUTSIDE = {
    "probability": (1.5, "in [0, 1]"),
    "nonnegative": (-1.0, "in [0, inf)"),
    "positive": (0.0, "in (0, inf)"),
}


@pytest.mark.parametrize("loss", [x for x in LOSSES if x.target in OUTSIDE], ids=lambda x: x.name)
def test_checks_target_is_what_the_kernel_does(loss: Any) -> None:
    """A target outside the domain is a ValueError naming the domain where the registry says
    the loss checks its targets, and is computed with where it says not."""
    x, t = _example_args(loss)
    t = t.astype(np.float64)
    value, domain = OUTSIDE[loss.target]
    t[0] = value
    fn = getattr(fastloss, loss.name)
    if loss.checks_target:
        message = f"target must be {domain}, got {value!r} at flat index 0"
        with pytest.raises(ValueError, match=re.escape(message)):
            fn(x, t)
    else:
        fn(x, t)


@pytest.mark.parametrize("loss", [x for x in LOSSES if x.params], ids=lambda x: x.name)
def test_defaults_are_the_kernels_defaults(loss: Any) -> None:
    """The documented default gives the same bits as passing it: the runtime signature and
    the binding's default are the same number."""
    x, t = _example_args(loss)
    defaults = {p.name: p.default for p in loss.params}
    for form in FORMS:
        fn = getattr(fastloss, loss.name + form)
        a, b = fn(x, t), fn(x, t, **defaults)
        parts = (a, b) if form in ("", "_grad") else (*a, *b)
        half = len(parts) // 2
        for u, v in zip(parts[:half], parts[half:]):
            np.testing.assert_array_equal(u, v)


@pytest.mark.parametrize("name", FUNCTIONS)
def test_docstring_has_the_parts_and_its_example_runs(name: str) -> None:
    doc = getattr(fastloss, name).__doc__
    assert doc is not None
    for part in ("Formulas", "Parameters:", "reduction:", "Raises ValueError", "Example:"):
        assert part in doc, part
    test = doctest.DocTestParser().get_doctest(doc, {"fastloss": fastloss}, name, None, 0)
    assert len(test.examples) == 1
    runner = doctest.DocTestRunner(optionflags=doctest.NORMALIZE_WHITESPACE)
    runner.run(test, out=lambda s: None)
    assert runner.summarize(verbose=False).failed == 0, f"{name}'s example gives another result"


def test_stub_docstrings_are_the_runtime_docs() -> None:
    import ast
    import pathlib

    stub = pathlib.Path(fastloss.__file__).with_name("_native.pyi").read_text(encoding="utf-8")
    docs: dict[str, str] = {}
    for node in ast.parse(stub).body:
        if isinstance(node, ast.FunctionDef) and node.name not in docs:
            doc = ast.get_docstring(node)
            if doc is not None:
                docs[node.name] = doc
    for name in FUNCTIONS:
        assert docs[name] == inspect.cleandoc(getattr(fastloss, name).__doc__), name
