"""The one table of fastloss's losses.

Each row holds everything about a loss that is not its math: its name and family, its
parameters (type, default, domain, meaning, and sample values on either side of the domain),
the flags that other code branches on, its formulas and its documentation. The math lives in
``src/loss/``; everything else is derived from this table by ``python tools/generate.py``:

- the Rust bindings' signatures and runtime docs (``src/python/losses.rs``),
- the stubs with their docstrings (``_native.pyi``), ``__init__``'s imports and ``__all__``,
- the Dask functions (``dask.py``), the boosting name lists (``_names.py``),
- the README's table of losses and its list of names,

and the concern tests and the benchmark read it directly. CI regenerates and fails when that
changes the tree, so a generated file is never edited by hand.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, Union

Number = Union[float, int, bool, None]
Family = Literal["elementwise", "rows"]
#: Where a loss's input lives: any real number (errors, logits), or a probability in [0, 1].
InputDomain = Literal["real", "probability"]
#: Where its target lives: real numbers, probabilities in [0, 1], class indices (rows), or
#: the counts and amounts of the log-link losses: [0, inf) ("nonnegative") or (0, inf)
#: ("positive"). Whether a loss rejects targets outside it is ``Loss.checks_target``.
TargetDomain = Literal["real", "probability", "classes", "nonnegative", "positive"]
#: Its second derivative: positive where the loss is smooth ("exact"), zero everywhere
#: ("flat"), or zero away from the kink ("vanishing"). Newton steps -G/H are unbounded on the
#: last two, so the boosting objectives floor their hessian at 1 by default.
Hessian = Literal["exact", "flat", "vanishing"]

FORMS = ("", "_grad", "_value_and_grad", "_grad_hess")
"""The four functions of every loss: NAME, NAME_grad, NAME_value_and_grad, NAME_grad_hess."""


@dataclass(frozen=True)
class Param:
    """A keyword parameter of a loss, after ``input, target, *``."""

    name: str
    #: Its type as the stubs write it.
    annotation: str
    default: Number
    #: The values it takes, as the docs and error messages say them ("δ > 0").
    domain: str
    #: One line: what it does.
    meaning: str
    #: Values inside the domain, and values outside it (a ``ValueError``), for the tests.
    valid: tuple[Number, ...] = ()
    invalid: tuple[Number, ...] = ()


@dataclass(frozen=True)
class Example:
    """A call on two small arrays, and what each of the four functions returns for it."""

    input: str
    target: str
    params: str
    value: str
    grad: str
    value_and_grad: str
    grad_hess: str


@dataclass(frozen=True)
class Loss:
    name: str
    family: Family
    #: One line: what the loss is, as the docs start.
    title: str
    #: The per-element (per-row) value, gradient with respect to the input, and diagonal
    #: second derivative.
    value: str
    grad: str
    hess: str
    input: InputDomain
    target: TargetDomain
    hessian: Hessian
    example: Example
    params: tuple[Param, ...] = ()
    #: Whether ``xgboost_objective`` / ``lightgbm_objective`` take it.
    boosting: bool = True
    #: The Rust loss type built from the parameters (``crate::loss::<kernel>::<T>::new(...)``,
    #: or the unit struct when there are none); ``None`` when ``call`` is given.
    kernel: str | None = None
    #: A hand-written Rust binding ``call(kind, input, target, <params>, reduction,
    #: sample_weight, out)``, for losses whose parameters are arrays.
    call: str | None = None
    #: Whether targets outside the target domain (and NaN) are a ValueError (else they are
    #: computed with, as PyTorch does).
    checks_target: bool = False
    #: Further lines of documentation (semantics, edge cases).
    notes: tuple[str, ...] = field(default_factory=tuple)
    #: What the formulas' letters are, when not ``d = input - target`` per element.
    variables: str | None = None

    def functions(self) -> tuple[str, ...]:
        return tuple(self.name + form for form in FORMS)


LOSSES: tuple[Loss, ...] = (
    Loss(
        name="mae",
        family="elementwise",
        title="Mean absolute error (L1): |input - target|",
        value="|d|",
        grad="sign(d), sign(0) = 0",
        hess="0",
        input="real",
        target="real",
        hessian="flat",
        kernel="regression::Mae",
        example=Example(
            input="[0.5, 3.0]",
            target="[0.0, 0.0]",
            params="",
            value="1.75",
            grad="array([0.5, 0.5])",
            value_and_grad="(1.75, array([0.5, 0.5]))",
            grad_hess="(array([1., 1.]), array([0., 0.]))",
        ),
    ),
    Loss(
        name="mse",
        family="elementwise",
        title="Mean squared error (L2): (input - target)²",
        value="d²",
        grad="2d",
        hess="2",
        input="real",
        target="real",
        hessian="exact",
        kernel="regression::Mse",
        example=Example(
            input="[0.5, 3.0]",
            target="[0.0, 0.0]",
            params="",
            value="4.625",
            grad="array([0.5, 3. ])",
            value_and_grad="(4.625, array([0.5, 3. ]))",
            grad_hess="(array([1., 6.]), array([2., 2.]))",
        ),
    ),
    Loss(
        name="smooth_l1",
        family="elementwise",
        title="Smooth L1: quadratic below β, linear above (PyTorch's smooth_l1_loss)",
        value="|d| < β ? 0.5·d²/β : |d| - 0.5·β (β = 0 is mae)",
        grad="clamp(d/β, -1, 1)",
        hess="|d| < β ? 1/β : 0",
        input="real",
        target="real",
        hessian="vanishing",
        kernel="regression::SmoothL1",
        params=(
            Param(
                "beta",
                "float",
                1.0,
                "β ≥ 0",
                "where the loss turns from quadratic to linear; β = 0 is exactly mae",
                valid=(0.0, 0.5, 1.0, 3.0),
                invalid=(-1.0, -0.5, -1e-300, float("-inf"), float("nan")),
            ),
        ),
        example=Example(
            input="[0.5, 3.0]",
            target="[0.0, 0.0]",
            params=", beta=1.0",
            value="1.3125",
            grad="array([0.25, 0.5 ])",
            value_and_grad="(1.3125, array([0.25, 0.5 ]))",
            grad_hess="(array([0.5, 1. ]), array([1., 0.]))",
        ),
    ),
    Loss(
        name="huber",
        family="elementwise",
        title="Huber loss: quadratic up to δ, linear beyond",
        value="|d| ≤ δ ? 0.5·d² : δ·(|d| - 0.5·δ)",
        grad="clamp(d, -δ, δ)",
        hess="|d| ≤ δ ? 1 : 0",
        input="real",
        target="real",
        hessian="vanishing",
        kernel="regression::Huber",
        params=(
            Param(
                "delta",
                "float",
                1.0,
                "δ > 0",
                "where the loss turns from quadratic to linear",
                valid=(1e-3, 0.5, 1.0, 2.0),
                invalid=(0.0, -0.0, -0.5, -1.0, float("-inf"), float("nan")),
            ),
        ),
        example=Example(
            input="[0.5, 3.0]",
            target="[0.0, 0.0]",
            params=", delta=1.0",
            value="1.3125",
            grad="array([0.25, 0.5 ])",
            value_and_grad="(1.3125, array([0.25, 0.5 ]))",
            grad_hess="(array([0.5, 1. ]), array([1., 0.]))",
        ),
    ),
    Loss(
        name="log_cosh",
        family="elementwise",
        title="Log-Cosh: log(cosh(input - target)), finite for every finite input",
        value="log cosh d = |d| + log1p(exp(-2|d|)) - ln 2",
        grad="tanh d",
        hess="1 - tanh² d",
        input="real",
        target="real",
        hessian="vanishing",
        kernel="regression::LogCosh",
        example=Example(
            input="[0.5, 3.0]",
            target="[0.0, 0.0]",
            params="",
            value="1.2147215057680314",
            grad="array([0.23105858, 0.49752738])",
            value_and_grad="(1.2147215057680314, array([0.23105858, 0.49752738]))",
            grad_hess="(array([0.46211716, 0.99505475]), array([0.78644773, 0.00986604]))",
        ),
    ),
    Loss(
        name="pinball",
        family="elementwise",
        title="Pinball (quantile) loss: fits the q-quantile of the target",
        value="r = target - input: max(q·r, (q - 1)·r)",
        grad="-q if r > 0, 1 - q if r < 0, 0.5 - q if r = 0",
        hess="0",
        input="real",
        target="real",
        hessian="flat",
        kernel="regression::Pinball",
        params=(
            Param(
                "q",
                "float",
                0.5,
                "0 < q < 1",
                "the quantile fitted",
                valid=(0.1, 0.5, 0.9),
                invalid=(0.0, 1.0, -0.25, 1.5, float("inf"), float("nan")),
            ),
        ),
        example=Example(
            input="[0.5, 3.0]",
            target="[0.0, 0.0]",
            params=", q=0.75",
            value="0.4375",
            grad="array([0.125, 0.125])",
            value_and_grad="(0.4375, array([0.125, 0.125]))",
            grad_hess="(array([0.25, 0.25]), array([0., 0.]))",
        ),
    ),
    Loss(
        name="binary_cross_entropy",
        family="elementwise",
        title="Binary cross-entropy on probabilities p = input ∈ [0, 1]",
        value=(
            "p = input ∈ [0, 1], t = target: -[t·log p + (1 - t)·log(1 - p)], logs clamped at -100"
        ),
        grad="(p - t) / max(p·(1 - p), 1e-12)",
        hess="t/p² + (1 - t)/(1 - p)², with the same clamp",
        input="probability",
        target="probability",
        hessian="exact",
        kernel="binary::BinaryCrossEntropy",
        notes=(
            "An input outside [0, 1], or NaN, raises ValueError naming the value and its index; "
            "targets are not checked.",
        ),
        example=Example(
            input="[0.25, 0.75]",
            target="[0.0, 1.0]",
            params="",
            value="0.2876820724517809",
            grad="array([ 0.66666667, -0.66666667])",
            value_and_grad="(0.2876820724517809, array([ 0.66666667, -0.66666667]))",
            grad_hess="(array([ 1.33333333, -1.33333333]), array([1.77777778, 1.77777778]))",
        ),
    ),
    Loss(
        name="binary_cross_entropy_with_logits",
        family="elementwise",
        title="Binary cross-entropy on logits x = input (a sigmoid, then BCE, exactly)",
        value="x = input, c = (1 - t) + pw·t: (1 - t)·x + c·softplus(-x)",
        grad="(1 - t)·σ(x) - pw·t·σ(-x)",
        hess="c·σ(x)·σ(-x)",
        input="real",
        target="probability",
        hessian="exact",
        call="binary::call",
        params=(
            Param(
                "pos_weight",
                "ArrayLike | None",
                None,
                "finite, negative included; a scalar, one per element of the input's last axis, or "
                "any shape that broadcasts to the input's",
                "the weight of the positive term (PyTorch's pos_weight), read through broadcasting "
                "without a copy",
            ),
        ),
        notes=("Exact at x = ±inf (x = -inf with t = 0 gives 0).",),
        example=Example(
            input="[-1.0, 2.0]",
            target="[0.0, 1.0]",
            params="",
            value="0.2200948492805977",
            grad="array([ 0.13447071, -0.05960146])",
            value_and_grad="(0.2200948492805977, array([ 0.13447071, -0.05960146]))",
            grad_hess="(array([ 0.26894142, -0.11920292]), array([0.19661193, 0.10499359]))",
        ),
    ),
    Loss(
        name="sigmoid_focal",
        family="elementwise",
        title="Focal loss on logits x = input (torchvision's sigmoid_focal_loss)",
        value=(
            "p = σ(x), q = 1 - p_t = t·σ(-x) + (1 - t)·σ(x), a = α·t + (1 - α)·(1 - t) "
            "(1 without α), B = BCE-with-logits(x, t): a·q^γ·B"
        ),
        grad="a·q^γ·(γ·m·B + σ(x) - t), m = q'/q = (1 - 2t)·σ(x)·σ(-x)/q",
        hess=("a·q^γ·(γ·m·B·((γ - 1)·m + 1 - 2σ(x)) + 2γ·m·(σ(x) - t) + σ(x)·σ(-x))"),
        input="real",
        target="probability",
        hessian="exact",
        kernel="focal::SigmoidFocal",
        checks_target=True,
        params=(
            Param(
                "alpha",
                "float | None",
                0.25,
                "0 ≤ α ≤ 1, or None",
                "the weight α of the positive class (1 - α of the negative); None weighs both 1",
                valid=(None, 0.0, 0.25, 0.5, 1.0),
                invalid=(-0.25, 1.5, float("inf"), float("nan")),
            ),
            Param(
                "gamma",
                "float",
                2.0,
                "γ ≥ 0, finite",
                "the focusing exponent: (1 - p_t)^γ down-weights well-classified elements; "
                "γ = 0 with alpha=None is binary_cross_entropy_with_logits",
                valid=(0.0, 0.5, 1.0, 2.0, 3.5),
                invalid=(-1.0, -1e-300, float("inf"), float("nan")),
            ),
        ),
        notes=(
            "1 - p_t is computed from the logit, never as 1 - p, so that (1 - p_t)^γ keeps its "
            "precision as p_t approaches 1.",
            "A target outside [0, 1], or NaN, raises ValueError naming the value and its index, "
            "before anything is written.",
        ),
        example=Example(
            input="[-1.0, 2.0]",
            target="[0.0, 1.0]",
            params=", alpha=0.25, gamma=2.0",
            value="0.008722216920080296",
            grad="array([ 0.01971792, -0.00060887])",
            value_and_grad="(0.008722216920080296, array([ 0.01971792, -0.00060887]))",
            grad_hess="(array([ 0.03943585, -0.00121774]), array([0.08297445, 0.00316939]))",
        ),
    ),
    Loss(
        name="poisson",
        family="elementwise",
        title="Poisson deviance on the log link: input η = log of the predicted mean",
        value="exp(η) - y·η",
        grad="exp(η) - y",
        hess="exp(η)",
        input="real",
        target="nonnegative",
        hessian="exact",
        kernel="loglink::Poisson",
        checks_target=True,
        variables="η = input, y = target ≥ 0, per element",
        notes=(
            "PyTorch's poisson_nll_loss(log_input=True, full=False) and scikit-learn's "
            "HalfPoissonLoss. A target that is negative, infinite or NaN raises ValueError naming "
            "the value and its index, before anything is written.",
        ),
        example=Example(
            input="[0.0, 1.0]",
            target="[1.0, 2.0]",
            params="",
            value="0.8591409142295225",
            grad="array([0.        , 0.35914091])",
            value_and_grad="(0.8591409142295225, array([0.        , 0.35914091]))",
            grad_hess="(array([0.        , 0.71828183]), array([1.        , 2.71828183]))",
        ),
    ),
    Loss(
        name="gamma",
        family="elementwise",
        title="Gamma deviance on the log link: input η = log of the predicted mean",
        value="η + y·exp(-η)",
        grad="1 - y·exp(-η)",
        hess="y·exp(-η)",
        input="real",
        target="positive",
        hessian="exact",
        kernel="loglink::Gamma",
        checks_target=True,
        variables="η = input, y = target > 0, per element",
        notes=(
            "scikit-learn's HalfGammaLoss. A target that is not positive and finite, or NaN, "
            "raises ValueError naming the value and its index, before anything is written.",
        ),
        example=Example(
            input="[0.0, 1.0]",
            target="[1.0, 2.0]",
            params="",
            value="1.3678794411714423",
            grad="array([0.        , 0.13212056])",
            value_and_grad="(1.3678794411714423, array([0.        , 0.13212056]))",
            grad_hess="(array([0.        , 0.26424112]), array([1.        , 0.73575888]))",
        ),
    ),
    Loss(
        name="tweedie",
        family="elementwise",
        title="Tweedie deviance on the log link: input η = log of the predicted mean",
        value="exp((2 - p)·η)/(2 - p) - y·exp((1 - p)·η)/(1 - p)",
        grad="exp((2 - p)·η) - y·exp((1 - p)·η)",
        hess="(2 - p)·exp((2 - p)·η) - (1 - p)·y·exp((1 - p)·η)",
        input="real",
        target="nonnegative",
        hessian="exact",
        call="tweedie::call",
        checks_target=True,
        variables="η = input, p = power, y = target ≥ 0 (> 0 at p = 2), per element",
        params=(
            Param(
                "power",
                "float",
                1.5,
                "1 ≤ p ≤ 2",
                "the variance power p: 1 is poisson, 2 is gamma (the same values, gradients and "
                "second derivatives)",
                valid=(1.0, 1.2, 1.5, 1.8, 2.0),
                invalid=(0.5, 0.99, 2.01, 3.0, float("inf"), float("nan")),
            ),
        ),
        notes=(
            "scikit-learn's HalfTweedieLoss. A target that is negative (or not positive, at "
            "power 2), infinite or NaN raises ValueError naming the value and its index, before "
            "anything is written.",
        ),
        example=Example(
            input="[0.0, 1.0]",
            target="[1.0, 2.0]",
            params=", power=1.5",
            value="4.8617825901253955",
            grad="array([0.        , 0.21782998])",
            value_and_grad="(4.8617825901253955, array([0.        , 0.21782998]))",
            grad_hess="(array([0.        , 0.43565995]), array([1.       , 1.4308913]))",
        ),
    ),
    Loss(
        name="cross_entropy",
        family="rows",
        title="Softmax cross-entropy over the classes along `axis`",
        value="Σ_c a_c·(logsumexp(z) - z_c), z the row of logits",
        grad="A·softmax(z)_c - a_c, A = Σ_c a_c",
        hess="A·p_c·(1 - p_c) (the diagonal)",
        input="real",
        target="classes",
        hessian="exact",
        call="softmax::call",
        params=(
            Param("axis", "int", -1, "an axis of the input", "the class axis"),
            Param(
                "class_weight",
                "ArrayLike | None",
                None,
                "finite, negative included, one per class",
                "a weight per class, as PyTorch's weight=",
            ),
            Param(
                "ignore_index",
                "int | None",
                None,
                "any integer",
                "rows with this class index contribute nothing, and leave the mean",
            ),
            Param(
                "label_smoothing",
                "float",
                0.0,
                "0 ≤ ε ≤ 1",
                "ε: targets t become (1 - ε)·t + ε/C",
                valid=(0.0, 0.1, 1.0),
                invalid=(-0.1, 1.5, float("nan")),
            ),
            Param(
                "from_logits",
                "bool",
                True,
                "True or False",
                "False: the input holds probabilities, and the value is -Σ a_c·log max(p_c, tiny)",
            ),
        ),
        notes=(
            "`target` holds integer class indices (the input's shape without `axis`) or "
            "probabilities (the input's shape). Target weights a_c: index y gives "
            "(1 - ε)·w_y·[c = y] + (ε/C)·w_c, probabilities t give w_c·((1 - ε)·t_c + ε/C).",
            "The mean follows PyTorch: index targets divide by Σ w_{y_i} over rows that are not "
            "`ignore_index` (all ignored: nan), probability targets by the number of rows.",
            "Finite logits never give nan or inf. A label out of range or a wrong class_weight "
            "raises ValueError naming the value and its position.",
        ),
        example=Example(
            input="[[2.0, 0.0], [0.0, 1.0]]",
            target="[0, 1]",
            params="",
            value="0.22009484928059775",
            grad=("array([[-0.05960146,  0.05960146],\n       [ 0.13447071, -0.13447071]])"),
            value_and_grad=(
                "(0.22009484928059775, array([[-0.05960146,  0.05960146],\n"
                "       [ 0.13447071, -0.13447071]]))"
            ),
            grad_hess=(
                "(array([[-0.11920292,  0.11920292],\n"
                "       [ 0.26894142, -0.26894142]]), array([[0.10499359, 0.10499359],\n"
                "       [0.19661193, 0.19661193]]))"
            ),
        ),
    ),
)

BY_NAME: dict[str, Loss] = {loss.name: loss for loss in LOSSES}
