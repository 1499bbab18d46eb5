"""Helpers for tests/scale: worker subprocesses and numpy references."""

import os
import subprocess
import sys

import numpy as np

from tests.distiller.helpers import log_softmax
from tests.distiller.helpers import np_kd as kl_term  # noqa: F401 (re-export)
from tests.distiller.helpers import np_sparse_ce

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
WORKERS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "workers")
# Only catches hangs: a healthy worker needs ~5-10 s of CPU, but a shared CI
# machine can stretch that many times over.
TIMEOUT = 600


def worker_env(**extra):
    """Environment of a worker: this checkout first on the path, CPU only."""
    path = os.environ.get("PYTHONPATH", "")
    env = dict(os.environ)
    env.update(
        PYTHONPATH=REPO + (os.pathsep + path if path else ""),
        KERAS_BACKEND="tensorflow",
        TF_CPP_MIN_LOG_LEVEL="3",
        CUDA_VISIBLE_DEVICES="-1",
    )
    env.update(extra)
    return env


def worker_command(name, *args):
    return [sys.executable, os.path.join(WORKERS, name), *map(str, args)]


def run_worker(name, *args, expect_returncode=0):
    """Runs a worker script to completion (killed after TIMEOUT seconds)."""
    process = subprocess.run(
        worker_command(name, *args),
        env=worker_env(),
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )
    assert process.returncode == expect_returncode, (
        f"{name} {args} exited with {process.returncode}, expected "
        f"{expect_returncode}:\n{process.stderr[-4000:]}"
    )
    return process


# ----------------------------------------------------------------------
# numpy references (float64), beside those of tests/distiller/helpers.py
# ----------------------------------------------------------------------


def cross_entropy(logits, labels):
    """Per-example sparse categorical cross-entropy from logits."""
    return np_sparse_ce(labels, logits)


def mse_term(teacher_logits, student_logits, temperature):
    """Per-example T^2 * mean((softmax(t/T) - softmax(s/T))^2) (KerasLoss)."""
    p_t = np.exp(log_softmax(np.asarray(teacher_logits, "float64") / temperature))
    p_s = np.exp(log_softmax(np.asarray(student_logits, "float64") / temperature))
    return ((p_t - p_s) ** 2).mean(-1) * temperature**2


def weighted_mean(values, weights):
    weights = np.asarray(weights, "float64")
    return float((np.asarray(values) * weights).sum() / weights.sum())


def dense(x, weights):
    kernel, bias = (np.asarray(w, "float64") for w in weights)
    return np.asarray(x, "float64") @ kernel + bias
