"""The estimator contract, input validation and the conformance suite itself."""

from __future__ import annotations

import numpy as np
import pytest

from catebench.benchmark.registry import ESTIMATORS
from catebench.estimators.base import CATEEstimator, NotFittedError, validate_fit_inputs
from catebench.estimators.checks import CHECKS, check_estimator, iter_checks, tiny_data


def _builtin_instances():
    for entry in ESTIMATORS.entries():
        if entry.source != "built-in":
            continue
        cls = entry.load()
        params = {**entry.params, **cls.test_params()}
        yield pytest.param(entry.create(**params), id=entry.name)


# Built-ins whose predict averages Monte Carlo draws made per call, so a row's prediction depends on the other
# rows of the batch; expected to fail (strict: a fix shows up). None at present: the generative estimators draw
# each row's noise from a generator keyed by the seed and the row's values (catebench.estimators._generative.row_noise).
KNOWN_BATCH_DEPENDENT: dict[str, str] = {}


def _cases():
    for p in _builtin_instances():
        est = p.values[0]
        for check in iter_checks(est):
            marks = ()
            if check.__name__ == "check_batch_independence" and p.id in KNOWN_BATCH_DEPENDENT:
                marks = pytest.mark.xfail(reason=KNOWN_BATCH_DEPENDENT[p.id], strict=True, raises=AssertionError)
            yield pytest.param(check, id=f"{p.id}-{check.__name__}", marks=marks)


@pytest.mark.parametrize("check", list(_cases()))
def test_builtin_estimators_conform(check):
    check()


def test_every_builtin_is_checked():
    names = [p.id for p in _builtin_instances()]
    assert {"t-learner-linear", "causal-forest", "x-learner", "r-learner", "dr-learner", "s-learner"} <= set(names)


X, T, Y, MU0, MU1 = tiny_data()


@pytest.mark.parametrize(
    "args, words",
    [
        ((X[:, 0], T, Y), "2-D"),
        ((np.where(X > 2, np.nan, X), T, Y), "non-finite"),
        ((np.where(X > 2, np.inf, X), T, Y), "non-finite"),
        ((X, np.where(T == 1, 2, T), Y), "binary"),
        ((X, np.full_like(T, 0.5), Y), "binary"),
        ((X, np.zeros_like(T), Y), "treated"),
        ((X, np.ones_like(T), Y), "control"),
        ((X, T[:-3], Y), "same number of rows"),
        ((X, T, Y.reshape(-1, 1)), "1-D"),
        ((X, T, np.where(np.arange(len(Y)) == 7, np.inf, Y)), "row 7"),
        ((X, np.array(["a"] * len(T)), Y), "binary"),
    ],
)
def test_validation_messages(args, words):
    with pytest.raises(ValueError, match=words):
        validate_fit_inputs(*args)


def test_validation_accepts_bool_and_int_treatment():
    _, t, _ = validate_fit_inputs(X, T.astype(bool), Y)
    assert t.dtype == float and set(np.unique(t)) == {0.0, 1.0}


class _Broken(CATEEstimator):
    """Ignores its seed (draws from numpy's global generator) and returns the wrong shape."""

    def __init__(self, random_state=None):
        self.random_state = random_state

    def _fit(self, X, t, y):
        self.m_ = float(np.mean(y)) + np.random.normal()

    def _predict(self, X):
        return np.full(len(X), self.m_), np.full(len(X), self.m_)


def test_check_estimator_catches_global_random_state():
    with pytest.raises(AssertionError, match="check_same_seed_same_predictions|check_no_global_random_state"):
        check_estimator(_Broken())


class _WrongShape(_Broken):
    def _fit(self, X, t, y):
        self.m_ = 0.0

    def _predict(self, X):
        return np.zeros(len(X) + 1), np.zeros(len(X))


def test_predict_output_is_checked():
    est = _WrongShape().fit(X, T, Y)
    with pytest.raises(ValueError, match="shape"):
        est.predict(X)


def test_predict_before_fit():
    with pytest.raises(NotFittedError, match="not fitted"):
        _WrongShape().predict(X)


def test_not_generative_sample_raises():
    est = _WrongShape().fit(X, T, Y)
    with pytest.raises(NotImplementedError, match="not generative"):
        est.sample(X)


def test_checks_are_named_and_documented():
    for c in CHECKS:
        assert c.__name__.startswith("check_") and c.__doc__


# ---- plugin contract ----------------------------------------------------------------------------------------
class _Linear(CATEEstimator):
    """Per-arm least squares (cheap, deterministic): the effect of column order is visible in its predictions."""

    def __init__(self, random_state=None):
        self.random_state = random_state

    def _fit(self, X, t, y):
        A = np.c_[np.ones(len(X)), X]
        self.coef_ = [np.linalg.lstsq(A[t == a], y[t == a], rcond=None)[0] for a in (0, 1)]

    def _predict(self, X):
        A = np.c_[np.ones(len(X)), X]
        return A @ self.coef_[0], A @ self.coef_[1]


def test_dataframe_columns_are_remembered_and_a_reordered_frame_is_refused():
    """A DataFrame's columns are remembered at fit; one with the fit columns in another order is refused, not read
    by position."""
    import pandas as pd

    X, t, y, *_ = tiny_data()
    df = pd.DataFrame(X, columns=["age", "bw", "male", "twin"])
    est = _Linear().fit(df, t, y)
    assert list(est.feature_names_in_) == ["age", "bw", "male", "twin"]
    np.testing.assert_array_equal(est.predict(df)[0], est.predict(X)[0])  # same order, or an array: by position
    with pytest.raises(ValueError, match="columns of fit in another order"):
        est.predict(df[["bw", "age", "male", "twin"]])
    with pytest.raises(ValueError, match=r"missing \['twin'\], unexpected \['other'\]"):
        est.predict(df.rename(columns={"twin": "other"}))
    np.testing.assert_array_equal(est.predict(df[["bw", "age", "male", "twin"]][list(est.feature_names_in_)])[1],
                                  est.predict(X)[1])  # fmt: skip
    assert not hasattr(est.fit(X, t, y), "feature_names_in_")  # refitted on an array: names forgotten


def test_public_seeding_helpers_restore_global_state_and_make_global_draws_reproducible():
    import random

    from catebench.estimators.seeding import numpy_global_seed, seed_from, torch_seed

    before_np, before_py = np.random.get_state()[1].copy(), random.getstate()
    with numpy_global_seed(seed_from(3)):
        a = (np.random.normal(size=3), random.random())
    with numpy_global_seed(seed_from(3)):
        b = (np.random.normal(size=3), random.random())
    np.testing.assert_array_equal(a[0], b[0])
    assert a[1] == b[1]
    assert np.array_equal(np.random.get_state()[1], before_np) and random.getstate() == before_py
    with pytest.raises(ValueError, match="seed must be an integer"):
        with numpy_global_seed(1.5):
            pass
    torch = pytest.importorskip("torch")
    state = torch.get_rng_state().clone()
    with torch_seed(7) as gen:
        u = torch.rand(3), torch.rand(2, generator=gen)
    with torch_seed(7, "cpu") as gen:
        v = torch.rand(3), torch.rand(2, generator=gen)
    assert torch.equal(u[0], v[0]) and torch.equal(u[1], v[1])
    assert torch.equal(torch.get_rng_state(), state)


class _GlobalNoise(_Linear):
    """Draws from numpy's global generator in fit, inside the public helper when ``helper`` is set."""

    def __init__(self, helper=True, random_state=None):
        self.helper = helper
        self.random_state = random_state

    def _fit(self, X, t, y):
        from catebench.estimators.seeding import numpy_global_seed, seed_from

        if self.helper:
            with numpy_global_seed(seed_from(self.random_state)):
                y = y + 0.01 * np.random.normal(size=len(y))
        else:
            y = y + 0.01 * np.random.normal(size=len(y))
        super()._fit(X, t, y)


def test_numpy_global_seed_makes_a_global_generator_library_conform():
    from catebench.estimators.checks import check_no_global_random_state, check_same_seed_same_predictions

    check_no_global_random_state(_GlobalNoise(helper=True))
    check_same_seed_same_predictions(_GlobalNoise(helper=True))
    with pytest.raises(AssertionError, match="global random state changed"):
        check_no_global_random_state(_GlobalNoise(helper=False))


class _BatchNormalised(_Linear):
    """Standardises X over the rows being predicted (what BatchNorm in training mode does)."""

    def _predict(self, X):
        Z = (X - X.mean(0)) / (X.std(0) + 1e-9) if len(X) > 1 else X
        return super()._predict(Z)


def test_batch_independence_check_catches_batch_dependent_predictions():
    from catebench.estimators.checks import check_batch_independence

    check_batch_independence(_Linear())
    with pytest.raises(AssertionError, match="must not depend on the other rows of the batch"):
        check_batch_independence(_BatchNormalised())


def test_load_task_data_is_exactly_what_execute_task_uses(tmp_path):
    """The public way to get a replication's data, split and seed gives what the runner fits and scores."""
    from catebench.benchmark.config import config_from_dict
    from catebench.benchmark.runner import execute_task, load_task_data, task_data
    from catebench.benchmark.tasks import plan_tasks

    cfg = config_from_dict({"name": "x", "seed": 5, "seeds": 2, "store": str(tmp_path / "s.sqlite"),
                            "datasets": [{"name": "ihdp", "replications": [2], "split": "90/10"}],
                            "estimators": [{"name": "test_contract:_Linear"}]})  # fmt: skip
    tasks = plan_tasks(cfg)
    for task in tasks:
        td = load_task_data("ihdp", 2, split="90/10", seed=5, seed_index=task.seed)
        assert td.random_state == task.random_state
        result = execute_task(task)
        assert result.status == "ok", result.error
        np.testing.assert_array_equal(td.fit_idx, result.predictions["fit_idx"])
        np.testing.assert_array_equal(td.test_idx, result.predictions["test_idx"])
        same = task_data(task)
        np.testing.assert_array_equal(same.data.X, td.data.X)
        # fitting on td.fit reproduces the runner's predictions exactly
        mu0, mu1 = _Linear(random_state=td.random_state).fit(*td.fit).predict(td.data.X)
        np.testing.assert_array_equal(mu1, result.predictions["mu1_hat"])
    assert load_task_data("ihdp", 2).split.validation_fraction == pytest.approx(0.3)


def test_a_plugin_that_failed_to_load_is_named_as_such(monkeypatch):
    """``--estimators NAME`` for a broken plugin says it failed to load and why, not just "unknown"."""
    from importlib.metadata import EntryPoint

    from catebench.benchmark import registry

    eps = [EntryPoint(name="broken-plugin", value="nosuch_module_for_catebench_tests:Est", group="catebench.estimators")]
    monkeypatch.setattr(registry, "entry_points", lambda group: eps if group == "catebench.estimators" else [])
    reg = registry.Registry("estimator", "catebench.estimators", "catebench.estimators")
    with pytest.warns(registry.PluginWarning, match="failed to load"):
        reg.names()
    with pytest.raises(ValueError, match="'broken-plugin' is an installed plugin that failed to load .*nosuch_module_for"):
        reg.get("broken-plugin")
    with pytest.raises(ValueError, match="unknown estimator 'other'"):
        reg.get("other")


def test_example_plugin_uses_only_public_catebench_modules():
    """The example plugin imports nothing private of catebench (no ``_module``, no ``_name``)."""
    import ast
    from pathlib import Path

    root = Path(__file__).resolve().parents[1] / "examples" / "catebench-plugin-example"
    ours = ("catebench",)
    seen = []
    for path in sorted(root.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] in ours:
                seen.append(node.module)
                assert not any(p.startswith("_") for p in node.module.split(".")), (path.name, node.module)
                assert not any(a.name.startswith("_") for a in node.names), (path.name, [a.name for a in node.names])
            elif isinstance(node, ast.Import):
                for a in node.names:
                    if a.name.split(".")[0] in ours:
                        seen.append(a.name)
                        assert not any(p.startswith("_") for p in a.name.split(".")), (path.name, a.name)
    assert "catebench.estimators.base" in seen


class _Permutes(_Linear):
    """Shuffles its rows with numpy's global generator (``np.random.permutation``) before fitting."""

    def _fit(self, X, t, y):
        order = np.random.permutation(len(y))
        super()._fit(X[order], t[order], y[order])


@pytest.mark.parametrize("draws_before", [0, 1, 300])
def test_global_state_check_sees_a_draw_wherever_the_generator_stands(draws_before):
    """A few draws from the global generator leave its key array unchanged unless they reach its end: the check
    compares the whole state (position included), so it fails wherever the generator stood, and leaves the
    generator as it found it."""
    from catebench.estimators.checks import check_no_global_random_state

    np.random.seed(7)
    np.random.random(draws_before)
    before = np.random.get_state()
    with pytest.raises(AssertionError, match="numpy's global random state changed"):
        check_no_global_random_state(_Permutes())
    after = np.random.get_state()
    assert np.array_equal(after[1], before[1]) and after[2:] == before[2:]
    check_no_global_random_state(_Linear())  # a clean estimator passes
    after = np.random.get_state()
    assert np.array_equal(after[1], before[1]) and after[2:] == before[2:]


def test_readme_and_plugin_docs_show_one_pytest_snippet_and_document_the_label_key():
    """docs/plugins.md shows one pytest snippet and the README the same one or none; the README's config example
    documents the ``label`` key."""
    import re
    import textwrap
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]

    def snippets(text: str) -> list[str]:
        blocks = re.findall(r"^([ \t]*)```python\n(.*?)^[ \t]*```", text, flags=re.S | re.M)
        return [textwrap.dedent(body).strip() for _, body in blocks if "iter_checks(" in body and "pytest" in body]

    readme, plugins = (root / "README.md").read_text(), (root / "docs" / "plugins.md").read_text()
    assert len(snippets(plugins)) == 1 and snippets(readme) in ([], snippets(plugins))  # the README may link instead
    config_example = re.search(r"```toml\nname = \"default\".*?```", readme, flags=re.S).group(0)
    assert re.search(r"^label = ", config_example, flags=re.M), config_example
