"""numpy references of every distillation loss, in float64.

Written independently of the library, following each paper's formula or its
authors' code. `t`, `s`: teacher and student logits `(..., classes)`; `T`:
the temperature; `y`: integer labels. Each returns per-example values,
except `dist_batch`, which returns the reduced loss of a weighted batch.
"""

import numpy as np


def log_softmax(x):
    x = x - x.max(axis=-1, keepdims=True)
    return x - np.log(np.exp(x).sum(axis=-1, keepdims=True))


def softmax(x):
    return np.exp(log_softmax(x))


def zscore(x):
    # Sun et al.'s code: (x - mean) / std, with torch's unbiased std.
    return (x - x.mean(-1, keepdims=True)) / x.std(-1, ddof=1, keepdims=True)


def kl(t, s, temperature, standardize=False):
    if standardize:
        t, s = zscore(t), zscore(s)
    log_p, log_q = log_softmax(t / temperature), log_softmax(s / temperature)
    return temperature**2 * (np.exp(log_p) * (log_p - log_q)).sum(-1)


def soft_target_ce(t, s, temperature, y):
    return -(temperature**2) * (softmax(t / temperature) * log_softmax(s / temperature)).sum(-1)


def jensen_shannon(beta, standardize=False):
    def reference(t, s, temperature, y):
        if standardize:
            t, s = zscore(t), zscore(s)
        p, q = softmax(t / temperature), softmax(s / temperature)
        m = beta * p + (1 - beta) * q
        jsd = beta * (p * np.log(p / m)).sum(-1) + (1 - beta) * (q * np.log(q / m)).sum(-1)
        return temperature**2 * jsd

    return reference


def huber(t, s, temperature, y, delta=0.5):
    d = np.abs(s - t)
    return np.where(d <= delta, 0.5 * d**2, delta * d - 0.5 * delta**2).mean(-1)


def cosine(t, s, temperature, y):
    dot = (t * s).sum(-1)
    return 1 - dot / (np.linalg.norm(t, axis=-1) * np.linalg.norm(s, axis=-1))


def dkd(t, s, temperature, y, alpha=1.0, beta=8.0):
    # As the authors' code (mdistiller dkd_loss): probabilities, then logs.
    gt = np.eye(t.shape[-1])[y]
    p_t, p_s = softmax(t / temperature), softmax(s / temperature)
    b_t = np.stack([(p_t * gt).sum(-1), (p_t * (1 - gt)).sum(-1)], -1)
    b_s = np.stack([(p_s * gt).sum(-1), (p_s * (1 - gt)).sum(-1)], -1)
    tckd = (b_t * (np.log(b_t) - np.log(b_s))).sum(-1)
    n_t = softmax(t / temperature - 1000.0 * gt)
    log_n_s = log_softmax(s / temperature - 1000.0 * gt)
    nckd = (n_t * (np.log(n_t + 1e-300) - log_n_s) * (1 - gt)).sum(-1)
    return temperature**2 * (alpha * tckd + beta * nckd)


def pearson(a, b, axis, weights):
    a = a - (weights * a).sum(axis, keepdims=True) / weights.sum(axis, keepdims=True)
    b = b - (weights * b).sum(axis, keepdims=True) / weights.sum(axis, keepdims=True)
    cov = (weights * a * b).sum(axis)
    return cov / np.sqrt((weights * a * a).sum(axis) * (weights * b * b).sum(axis))


def dist_batch(t, s, temperature, y, weights):
    # Huang et al.'s DIST with positions weighted by `weights` (all 1: the
    # authors' code). A batch statistic: returns the reduced loss itself.
    p_t = softmax(t / temperature).reshape(-1, t.shape[-1])
    p_s = softmax(s / temperature).reshape(-1, t.shape[-1])
    w = weights.reshape(-1, 1)
    inter = 1 - pearson(p_t, p_s, -1, np.ones_like(p_t))
    intra = 1 - pearson(p_t, p_s, 0, w).mean()
    return temperature**2 * ((w[:, 0] * inter).sum() / w.sum() + intra)


def bernoulli_kl(t, s, temperature, y):
    p, q = 1 / (1 + np.exp(-t / temperature)), 1 / (1 + np.exp(-s / temperature))
    kl = p * np.log(p / q) + (1 - p) * np.log((1 - p) / (1 - q))
    return temperature**2 * kl.mean(-1)


def keras_kl(t, s, temperature, y):
    # keras.losses.kl_divergence clips both distributions to [1e-7, 1].
    p = np.clip(softmax(t / temperature), 1e-7, 1)
    q = np.clip(softmax(s / temperature), 1e-7, 1)
    return temperature**2 * (p * np.log(p / q)).sum(-1)
