"""Newton–Raphson with step halving for a Cox partial likelihood on patient rows
(``cox``); its step-acceptance and convergence rules are compiled, and the fit on cell
counts (``_cells_newton``) runs the same loop compiled whole with the same rules."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._compiled import _jit

MAX_HALVINGS = 30


@_jit
def step_accepted(new_loglik: float, loglik: float) -> bool:  # pragma: no cover - compiled
    """A step is taken when its log-likelihood is a number and does not fall."""
    return bool(np.isfinite(new_loglik)) and new_loglik >= loglik - 1e-12 * abs(loglik)


@_jit
def converged_after(change: float, loglik: float, largest_step: float) -> bool:  # pragma: no cover
    """Converged: the log-likelihood moved by at most 1e-13 (relative), or the step < 1e-12."""
    return change <= 1e-13 * max(abs(loglik), 1.0) or largest_step < 1e-12


@dataclass(frozen=True)
class NewtonFit:
    beta: np.ndarray
    loglik: float
    loglik_null: float
    info: np.ndarray
    iterations: int
    converged: bool


def solve(info: np.ndarray, score: np.ndarray) -> np.ndarray:
    """The Newton step; least squares where the information matrix is singular."""
    try:
        return np.linalg.solve(info, score)
    except np.linalg.LinAlgError:
        return np.linalg.lstsq(info, score, rcond=None)[0]


def newton_maximise(data, p: int, max_iter: int) -> NewtonFit:
    """Maximise ``data.derivatives(beta) -> (loglik, score, information)`` from zero: a
    step is halved (at most 30 times) until the log-likelihood does not fall; converged
    when the log-likelihood changes by at most 1e-13 (relative) or the step is < 1e-12."""
    beta = np.zeros(p)
    loglik, score, info = data.derivatives(beta)
    loglik_null = loglik
    converged = False
    iterations = 0
    for iterations in range(1, max_iter + 1):
        step = solve(info, score)
        halvings = 0
        while True:
            new_beta = beta + step
            new_loglik, new_score, new_info = data.derivatives(new_beta)
            if step_accepted(float(new_loglik), float(loglik)):
                break
            halvings += 1
            step = step / 2
            if halvings > MAX_HALVINGS:
                break
        change = abs(new_loglik - loglik)
        beta, loglik, score, info = new_beta, new_loglik, new_score, new_info
        if converged_after(float(change), float(loglik), float(np.max(np.abs(step)))):
            converged = True
            break
    return NewtonFit(beta, float(loglik), float(loglik_null), info, iterations, converged)
