"""The recipe search behind `ours_best` (docs/benchmarks.md#accuracy).

Adds the variants tried on setting (a) to the accuracy benchmark's methods
and runs it with the same flags, e.g.

  python -m benchmarks.recipes --settings a --seeds 0,1 \\
      --methods std_dist_anneal_a0.1,kl_T4_a0.1 --out /tmp/recipes.json

Variant names: loss, temperature (`anneal` = cosine 4 -> 1, `anneal8` =
cosine 8 -> 1), alpha. With `--validation` the variants are scored on a
validation split of the training set (the split of `benchmarks.tuned`; the
teacher trained without it) instead of the test set, e.g.

  python -m benchmarks.recipes --validation --settings a --seeds 0 \
      --methods scratch,std_dist_T8_a0,logit_mse_T1_a0 --out /tmp/validation.json
"""

import keras

import keras_distill as kd
from benchmarks import accuracy
from benchmarks import common
from benchmarks import features


def flip_and_shift(image):
    """Random horizontal flip and a random shift of up to 2 pixels."""
    import tensorflow as tf

    image = tf.image.random_flip_left_right(image)
    image = tf.pad(image, [[2, 2], [2, 2], [0, 0]])
    return tf.image.random_crop(image, common.IMAGE_SHAPE)


def _anneal_from(start):
    """A cosine decay of the temperature from `start` to 1 over the run."""

    def schedule(ctx):
        return keras.optimizers.schedules.CosineDecay(
            start, decay_steps=ctx["steps"], alpha=1.0 / start)

    return schedule


_anneal = _anneal_from(4.0)


def _variant(terms, temperature, alpha):
    """A method on precomputed teacher logits. `terms` and `temperature` may
    be functions of `ctx` (for schedules that need the step count)."""

    def method(ctx, student):
        value = temperature(ctx) if callable(temperature) else temperature
        return accuracy._ours(ctx, student, terms(), alpha=alpha, temperature=value)

    return method


def _online_augmented(terms, temperature, alpha):
    """Our Distiller running the teacher on each flipped/shifted batch
    ("function matching", Beyer et al., 2022)."""

    def method(ctx, student):
        features.check_backend()
        distiller = kd.Distiller(
            teacher=ctx["teacher"], student=student, distillation_loss_fn=terms(),
            student_loss_fn=accuracy._sparse_ce(), alpha=alpha, temperature=temperature)
        distiller.compile(optimizer=keras.optimizers.Adam(accuracy._cosine(ctx["steps"])))
        return distiller

    method.augment = flip_and_shift
    return method


def _kl():
    return kd.losses.KLDivergence()


def _std():
    return kd.losses.KLDivergence(standardize=True)


def _std_dist(**dist_weights):
    return [_std(), kd.losses.DIST(temperature=1.0, **dist_weights)]


VARIANTS = {
    "kl_T8_a0": _variant(_kl, 8.0, 0.0),
    "kl_T4_a0": _variant(_kl, 4.0, 0.0),
    "kl_T4_a0.1": _variant(_kl, 4.0, 0.1),
    "kl_T2_a0.1": _variant(_kl, 2.0, 0.1),
    "kl_T1_a0": _variant(_kl, 1.0, 0.0),
    "kl_T1_a0.5": _variant(_kl, 1.0, 0.5),
    "kl_online_flip_shift_T1_a0": _online_augmented(_kl, 1.0, 0.0),
    "dkd_T4_a0.5": _variant(kd.losses.DKD, 4.0, 0.5),
    "dist_T1_a0.5": _variant(kd.losses.DIST, 1.0, 0.5),
    "std_T2_a0": _variant(_std, 2.0, 0.0),
    "std_T2_a0.1": _variant(_std, 2.0, 0.1),
    "std_T2_a0.5": _variant(_std, 2.0, 0.5),
    "std_T4_a0.1": _variant(_std, 4.0, 0.1),
    "std_anneal_a0": _variant(_std, _anneal, 0.0),
    "std_dist_T2_a0.1": _variant(_std_dist, 2.0, 0.1),
    "std_dist_anneal_a0": _variant(_std_dist, _anneal, 0.0),
    "std_dist_anneal_a0.1": _variant(_std_dist, _anneal, 0.1),  # = ours_best
    # Around the recipe chosen by benchmarks.tuned (std_dist_T8_a0):
    "std_dist_T8_a0": _variant(_std_dist, 8.0, 0.0),
    "std_dist_T16_a0": _variant(_std_dist, 16.0, 0.0),
    "std_dist_T8_a0.3": _variant(_std_dist, 8.0, 0.3),
    "std_dist_T8_a0.5": _variant(_std_dist, 8.0, 0.5),
    "std_dist_anneal8_a0": _variant(_std_dist, _anneal_from(8.0), 0.0),
    "std_dist_b2g2_T8_a0": _variant(lambda: _std_dist(beta=2.0, gamma=2.0), 8.0, 0.0),
    "std_dist_mse_T8_a0": _variant(lambda: _std_dist() + [kd.losses.LogitMSE()], 8.0, 0.0),
    "logit_mse_T1_a0": _variant(kd.losses.LogitMSE, 1.0, 0.0),
    "logit_mse_T1_a0.1": _variant(kd.losses.LogitMSE, 1.0, 0.1),
    "logit_cosine_T1_a0": _variant(kd.losses.LogitCosine, 1.0, 0.0),
}


def main(argv=None):
    accuracy.METHODS.update(VARIANTS)
    return accuracy.main(argv)


if __name__ == "__main__":
    main()
