"""Fair tuning: every estimator selects its hyperparameters on validation rows, with the same budget.

Protocol of one tuned task (``catebench run CONFIG --tune BUDGET [--tune-criterion C]``, or the config keys
``tune = BUDGET`` and ``tune_criterion = "C"``):

1. **Rows.** The runner hands over the *fit rows* of the replication only (train + validation of the split
   protocol); test rows are never passed in. They are split, stratified by arm, into a training part and a
   validation part holding the protocol's ``validation_fraction`` (63/27/10: 30 % of the fit rows). The split is
   seeded from the replication (the runner's split seed), so every estimator of a replication is tuned on the same
   validation rows.
2. **Candidates.** Candidate 0 is the estimator's defaults (its registered parameters plus config overrides);
   candidates 1 .. budget-1 are distinct points of the estimator's grid (:meth:`CATEEstimator.search_space`)
   drawn at random without replacement, seeded from the task's ``random_state``, skipping points equal to the
   defaults. Every estimator gets the same budget; an estimator whose grid has fewer distinct points uses them
   all, and one without a space (``search_space()`` returns ``None``) is "tuned" to its defaults only (1
   candidate; the stored record says so).
3. **Selection.** Each candidate is fit on the training part (with the task's ``random_state``; estimators that
   early-stop hold out their own ``validation_fraction`` of that part, as in an untuned fit) and scored on the
   validation part with a criterion that needs no counterfactuals (lower is better):

   * ``"factual"``: the factual outcome MSE, ``mean_i (y_i - mu_hat_{t_i}(x_i))^2``;
   * ``"nn-pehe"``: the nearest-neighbour PEHE proxy of Shalit, Johansson & Sontag (ICML 2017),
     ``sqrt(mean_i (tau_hat(x_i) - tau_NN_i)^2)`` with ``tau_NN_i = (2 t_i - 1) (y_i - y_j(i))``, ``j(i)`` the
     nearest validation row of the other arm (Euclidean, covariates scaled by the training part's sd);
   * ``"rloss"``: the R-loss of Nie & Wager (Biometrika 2021), ``mean_i ((y_i - m(x_i)) - (t_i - e(x_i))
     tau_hat(x_i))^2``, with the nuisances m(x) = E[Y | x] (histogram gradient boosting) and e(x) = P(T=1 | x)
     (logistic regression, clipped to [0.01, 0.99]) fit once on the training part and evaluated on the
     validation part.

   The lowest score wins, ties to the lower index (the defaults first). A candidate that raises or predicts
   non-finite values scores ``inf`` and keeps its error; if every candidate fails, the task fails.
4. **Refit.** The chosen parameters are refit on *all* fit rows with the task's ``random_state`` (exactly as an
   untuned task of those parameters would be) and scored on the fit and test rows like any other task.

A tuned task is one task, labelled ``{label}@tuned-{criterion}-{budget}`` (e.g. ``tarnet@tuned-nn-pehe-8``); its
key includes the budget, the criterion and the space, so tuned and default results never mix and a tuned run
resumes like every run. Stored with the task: the metrics ``tune_candidates``, ``tune_chosen`` (index),
``tune_val_score``, ``tune_default_val_score`` and ``tune_seconds`` (``fit_seconds`` covers selection and refit),
and the full record (every candidate's parameters, score and error), read back with :func:`tuning_record`.
"""

from __future__ import annotations

import dataclasses
import json
import time
from typing import Any

import numpy as np

__all__ = [
    "CRITERIA",
    "TuningResult",
    "draw_candidates",
    "estimator_space",
    "tune",
    "tuned_label",
    "tuning_record",
    "validation_rows",
    "validation_scores",
    "criterion_score",
]

CRITERIA = ("factual", "nn-pehe", "rloss")


def tuned_label(label: str, criterion: str, budget: int) -> str:
    """The display label of a tuned estimator, e.g. ``tarnet@tuned-nn-pehe-8``."""
    return f"{label}@tuned-{criterion}-{int(budget)}"


def check_tuning(budget: Any, criterion: Any) -> None:
    """Raise ``ValueError`` naming the bad value unless budget is a positive integer and criterion is known."""
    if isinstance(budget, bool) or not isinstance(budget, (int, np.integer)) or budget < 1:
        raise ValueError(f"tune budget must be a positive integer (candidates per task); got {budget!r}.")
    if criterion not in CRITERIA:
        raise ValueError(f"tune criterion must be one of {CRITERIA}; got {criterion!r}.")


def estimator_space(cls: type, params: dict[str, Any]) -> dict[str, list[Any]]:
    """``cls.search_space(params)`` checked and normalised: ``{}`` when the class declares none.

    Raises ``ValueError`` naming the class and the bad entry when the space is not ``{name: non-empty list}`` or
    names a parameter the estimator does not take."""
    fn = getattr(cls, "search_space", None)
    space = fn(dict(params)) if callable(fn) else None
    if not space:
        return {}
    if not isinstance(space, dict):
        raise ValueError(f"{cls.__name__}.search_space() must return a dict or None; got {type(space).__name__}.")
    try:
        accepted = set(cls().get_params(deep=False))
    except Exception:  # noqa: BLE001 - a class that cannot be built bare: names are checked at fit time
        accepted = set()
    out = {}
    for name in sorted(space):
        values = space[name]
        if not isinstance(values, (list, tuple)) or not values:
            raise ValueError(f"{cls.__name__}.search_space()[{name!r}] must be a non-empty list; got {values!r}.")
        if accepted and name not in accepted:
            raise ValueError(f"{cls.__name__}.search_space() names {name!r}, not a parameter of the estimator.")
        if name == "random_state":
            raise ValueError(f"{cls.__name__}.search_space() may not tune random_state.")
        out[name] = list(values)
    return out


def draw_candidates(space: dict[str, list[Any]], budget: int, seed: int,
                    defaults: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """Candidate parameter overrides: ``[{}]`` (the defaults) plus up to ``budget - 1`` distinct grid points.

    Parameters
    ----------
    space : dict
        ``{name: list of values}`` (see :func:`estimator_space`).
    budget : int
        Total number of candidates, the defaults included.
    seed : int
        Seeds the draw (without replacement, uniformly over the grid).
    defaults : dict, optional
        The estimator's fixed parameters; grid points equal to them on every searched name are skipped.

    Returns
    -------
    list of dict, length ``min(budget, 1 + grid points not equal to the defaults)``
    """
    check_tuning(budget, "factual")
    names = sorted(space)
    sizes = [len(space[n]) for n in names]
    total = int(np.prod(sizes)) if names else 0
    defaults = defaults or {}
    out: list[dict[str, Any]] = [{}]
    if total == 0 or budget == 1:
        return out

    def point(flat: int) -> dict[str, Any]:
        p = {}
        for n, k in zip(reversed(names), reversed(sizes)):
            flat, r = divmod(flat, k)
            p[n] = space[n][r]
        return dict(sorted(p.items()))

    def is_default(p: dict[str, Any]) -> bool:
        return all(n in defaults and json.dumps(defaults[n], sort_keys=True) == json.dumps(v, sort_keys=True)
                   for n, v in p.items())  # fmt: skip

    rng = np.random.default_rng(seed)
    for flat in rng.permutation(total) if total <= 1_000_000 else rng.integers(0, total, size=50 * budget):
        p = point(int(flat))
        if is_default(p) or p in out:
            continue
        out.append(p)
        if len(out) == budget:
            break
    return out


def validation_rows(t: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Split positions ``0 .. len(t)-1`` of the fit rows into (train, validation), stratified by arm.

    Each arm puts ``round(fraction * n_arm)`` rows into validation, at least two (so the nearest-neighbour proxy
    has a match) and at most ``n_arm - 2`` (so each arm keeps training rows)."""
    if not 0.0 < fraction < 1.0:
        raise ValueError(f"tuning needs a validation_fraction in (0, 1); got {fraction!r}.")
    rng = np.random.default_rng(seed)
    train, val = [], []
    for arm in (0.0, 1.0):
        idx = np.flatnonzero(t == arm)
        if len(idx) < 4:
            raise ValueError(f"tuning needs at least 4 fit rows in each arm; arm t={int(arm)} has {len(idx)}.")
        idx = idx[rng.permutation(len(idx))]
        n_val = min(max(int(round(fraction * len(idx))), 2), len(idx) - 2)
        val.append(idx[:n_val])
        train.append(idx[n_val:])
    return np.sort(np.concatenate(train)), np.sort(np.concatenate(val))


class _Nuisance:
    """R-loss nuisances fit on the training part: m(x) = E[Y | x] and e(x) = P(T = 1 | x)."""

    def __init__(self, X, t, y, seed: int):
        from sklearn.ensemble import HistGradientBoostingRegressor

        from catebench.estimators._nuisance import make_propensity_model

        self.m = HistGradientBoostingRegressor(early_stopping=False, random_state=seed).fit(X, y)
        self.e = make_propensity_model().fit(X, t.astype(int))

    def residuals(self, X, t, y) -> tuple[np.ndarray, np.ndarray]:
        e = np.clip(self.e.predict_proba(X)[:, 1], 0.01, 0.99)
        return y - self.m.predict(X), t - e


def nn_effect_proxy(X_val: np.ndarray, t_val: np.ndarray, y_val: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """tau_NN_i = (2 t_i - 1) (y_i - y_j(i)), j(i) the nearest validation row of the other arm (Shalit et al. 2017).

    Distances are Euclidean on ``X_val / scale``. Returns a (n_val,) array."""
    Z = X_val / scale
    d2 = (Z * Z).sum(1)[:, None] + (Z * Z).sum(1)[None, :] - 2.0 * Z @ Z.T
    d2[t_val[:, None] == t_val[None, :]] = np.inf  # only the other arm
    j = np.argmin(d2, axis=1)
    return (2.0 * t_val - 1.0) * (y_val - y_val[j])


def criterion_score(criterion: str, mu0: np.ndarray, mu1: np.ndarray, t: np.ndarray, y: np.ndarray,
                    tau_nn: np.ndarray | None = None,
                    residuals: tuple[np.ndarray, np.ndarray] | None = None) -> float:
    """Score (lower is better) of predictions ``mu0, mu1`` on validation rows ``(t, y)``; see the module doc."""
    if criterion == "factual":
        return float(np.mean((y - np.where(t > 0.5, mu1, mu0)) ** 2))
    if criterion == "nn-pehe":
        return float(np.sqrt(np.mean((mu1 - mu0 - tau_nn) ** 2)))
    if criterion == "rloss":
        ry, rt = residuals
        return float(np.mean((ry - rt * (mu1 - mu0)) ** 2))
    raise ValueError(f"tune criterion must be one of {CRITERIA}; got {criterion!r}.")


@dataclasses.dataclass
class TuningResult:
    """The outcome of :func:`tune` for one task."""

    criterion: str
    budget: int
    candidates: list[dict[str, Any]]
    scores: list[float]
    errors: list[str | None]
    chosen: int
    seconds: float
    n_train: int
    n_val: int
    space: dict[str, list[Any]]

    @property
    def chosen_params(self) -> dict[str, Any]:
        return dict(self.candidates[self.chosen])

    def metrics(self) -> dict[str, float]:
        """Finite numbers for the task's metrics JSON (prefix ``tune_``)."""
        out = {
            "tune_candidates": float(len(self.candidates)),
            "tune_chosen": float(self.chosen),
            "tune_val_score": float(self.scores[self.chosen]),
            "tune_seconds": float(self.seconds),
        }
        if np.isfinite(self.scores[0]):  # absent when the defaults failed
            out["tune_default_val_score"] = float(self.scores[0])
        return out

    def record(self) -> dict[str, Any]:
        return {
            "criterion": self.criterion, "budget": self.budget, "space": self.space,
            "candidates": self.candidates, "scores": [s if np.isfinite(s) else None for s in self.scores],
            "errors": self.errors, "chosen": self.chosen, "chosen_params": self.chosen_params,
            "seconds": self.seconds, "n_train": self.n_train, "n_val": self.n_val,
        }  # fmt: skip

    def blob(self) -> dict[str, np.ndarray]:
        """The record as a JSON string array, for the predictions blob."""
        return {"tuning": np.array(json.dumps(self.record(), sort_keys=True))}


def validation_scores(cls: type, params: dict[str, Any], random_state: int, X: np.ndarray, t: np.ndarray,
                      y: np.ndarray, candidates: list[dict[str, Any]], criteria: tuple[str, ...], *,
                      validation_fraction: float, split_seed: int) -> tuple[dict[str, list[float]], list[str | None],
                                                                            int, int]:
    """Fit every candidate once on the training part of the fit rows; score it on the validation part by each of
    ``criteria`` (steps 1 and 3 of the protocol).

    Returns ``(scores, errors, n_train, n_val)``: ``scores[criterion][i]`` is candidate ``i``'s score (``inf`` where
    its fit or prediction failed, the error kept in ``errors[i]``). The fits do not depend on the criteria, so one
    call with several criteria gives each the scores :func:`tune` would give it alone.
    """
    from catebench.datasets.base import derive_seed

    if not criteria:
        raise ValueError(f"validation_scores needs at least one criterion of {CRITERIA}; got none.")
    for c in criteria:
        check_tuning(2, c)
    tr, va = validation_rows(t, validation_fraction, derive_seed("tuning-validation", int(split_seed)))
    tau_nn = residuals = None
    if "nn-pehe" in criteria:
        scale = X[tr].std(0)
        scale[scale < 1e-12] = 1.0
        tau_nn = nn_effect_proxy(X[va], t[va], y[va], scale)
    if "rloss" in criteria:
        residuals = _Nuisance(X[tr], t[tr], y[tr], derive_seed("tuning-nuisance", int(random_state))).residuals(
            X[va], t[va], y[va])
    scores: dict[str, list[float]] = {c: [] for c in criteria}
    errors: list[str | None] = []
    for cand in candidates:
        try:
            est = cls(**{**params, **cand}, random_state=random_state)
            est.fit(X[tr], t[tr], y[tr])
            mu0, mu1 = (np.asarray(a, float) for a in est.predict(X[va]))
            row = {c: criterion_score(c, mu0, mu1, t[va], y[va], tau_nn, residuals) for c in criteria}
            bad = {c: s for c, s in row.items() if not np.isfinite(s)}
            if bad:
                raise ValueError(f"non-finite validation score {bad}")
            errors.append(None)
        except Exception as exc:  # noqa: BLE001 - a failing candidate is recorded, the others go on
            row = {c: float("inf") for c in criteria}
            errors.append(f"{type(exc).__name__}: {exc}"[:500])
        for c in criteria:
            scores[c].append(row[c])
    return scores, errors, len(tr), len(va)


def tune(cls: type, params: dict[str, Any], random_state: int, X: np.ndarray, t: np.ndarray, y: np.ndarray, *,
         budget: int, criterion: str, validation_fraction: float, split_seed: int,
         space: dict[str, list[Any]] | None = None) -> TuningResult:
    """Select hyperparameters of ``cls`` on validation rows of the fit rows ``(X, t, y)``.

    Parameters
    ----------
    cls : estimator class
    params : dict
        Fixed parameters (candidate 0); candidates override some of them.
    random_state : int
        The task's estimator seed: used for every candidate fit and to draw the candidates.
    X : (n_fit, d) array, t : (n_fit,) array, y : (n_fit,) array
        The fit rows only (never test rows).
    budget : int
        Candidates to evaluate, the defaults included.
    criterion : {"factual", "nn-pehe", "rloss"}
    validation_fraction : float
        Share of the fit rows scored (stratified by arm).
    split_seed : int
        Seeds the train/validation split of the fit rows (the replication's split seed).
    space : dict, optional
        The grid; default ``estimator_space(cls, params)``.

    Returns
    -------
    TuningResult
    """
    from catebench.datasets.base import derive_seed

    check_tuning(budget, criterion)
    start = time.perf_counter()
    X, t, y = np.asarray(X, float), np.asarray(t, float), np.asarray(y, float)
    space = estimator_space(cls, params) if space is None else space
    candidates = draw_candidates(space, budget, derive_seed("tuning-candidates", int(random_state)), params)
    by_criterion, errors, n_train, n_val = validation_scores(
        cls, params, random_state, X, t, y, candidates, (criterion,), validation_fraction=validation_fraction,
        split_seed=split_seed)
    scores = by_criterion[criterion]
    if not np.isfinite(scores).any():
        raise ValueError(f"tuning: all {len(candidates)} candidates failed; first error: {errors[0]}")
    chosen = int(np.argmin(scores))  # first minimum: ties go to the defaults
    return TuningResult(criterion, int(budget), candidates, scores, errors, chosen, time.perf_counter() - start,
                        n_train, n_val, space)  # fmt: skip


def tune_task(task: Any, cls: type, X: np.ndarray, t: np.ndarray, y: np.ndarray, validation_fraction: float,
              split_seed: int) -> TuningResult:
    """:func:`tune` with the settings a tuned :class:`~catebench.benchmark.tasks.Task` carries (``task.tuning_json``)."""
    spec = json.loads(task.tuning_json)
    return tune(cls, task.estimator_params, task.random_state, X, t, y, budget=spec["budget"],
                criterion=spec["criterion"], validation_fraction=validation_fraction, split_seed=split_seed,
                space=spec["space"])  # fmt: skip


def tuning_record(store: Any, key: str) -> dict[str, Any]:
    """The stored tuning record of a tuned task (``Store.predictions(key)["tuning"]``), as a dict."""
    preds = store.predictions(key)
    if "tuning" not in preds:
        raise KeyError(f"task {key!r} is not a tuned task (no tuning record in its predictions).")
    return json.loads(str(preds["tuning"]))
