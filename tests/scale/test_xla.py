"""`jit_compile=True` (XLA) for the default loss and every exported loss.

The list is read from `keras_distill.losses.__all__` when the tests run, so
losses added later are covered without editing this file (a loss whose
constructor needs arguments needs an entry in `_CONSTRUCTORS`).
"""

import inspect

import keras
import numpy as np

import keras_distill as kd
from keras_distill.src.losses.base import OUTPUTS
from keras_distill.src.losses.base import DistillationLoss
from keras_distill.src.losses.feature_base import FeatureLoss

# Losses whose constructor needs an argument, with a representative value.
_CONSTRUCTORS = {kd.losses.KerasLoss: lambda: kd.losses.KerasLoss("kl_divergence")}


def _loss_classes():
    classes = []
    for name in kd.losses.__all__:
        value = getattr(kd.losses, name)
        if (
            inspect.isclass(value)
            and issubclass(value, DistillationLoss)
            and value not in (DistillationLoss, FeatureLoss)
        ):
            classes.append(value)
    return classes


def _logit_losses():
    """One instance of every exported loss that reads outputs (the feature
    terms are in `test_feature_terms_under_xla`)."""
    losses = [_CONSTRUCTORS.get(loss_class, loss_class)() for loss_class in _loss_classes()]
    return [loss for loss in losses if not isinstance(loss, FeatureLoss)]


def _assert_trains_under_xla(distillation_loss_fn, distillation_loss_weights=None):
    """One XLA-compiled step: its loss equals the eager loss of the initial
    weights, and it changes the student's weights, all finite. Returns the
    step's logs."""
    keras.utils.set_random_seed(0)
    teacher = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)])
    student = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)])
    distiller = kd.Distiller(
        teacher=teacher, student=student, distillation_loss_fn=distillation_loss_fn,
        distillation_loss_weights=distillation_loss_weights,
    )
    distiller.compile(
        optimizer=keras.optimizers.SGD(0.1),
        student_loss_fn=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        alpha=0.5,
        temperature=2.0,
        jit_compile=True,
    )
    rng = np.random.default_rng(0)
    x = rng.normal(size=(16, 4)).astype("float32")
    y = (np.arange(16) % 3).astype("int32")  # Labels, for terms that need them.
    eager_loss = distiller.compute_loss(
        x=x, y=y, y_pred=student(x), teacher_outputs={OUTPUTS: teacher(x)}
    )
    before = student.get_weights()
    history = distiller.fit(x, y, batch_size=16, epochs=1, verbose=0).history
    logs = {key: values[0] for key, values in history.items()}
    np.testing.assert_allclose(
        logs["loss"], keras.ops.convert_to_numpy(eager_loss), rtol=1e-5, err_msg=str(logs)
    )
    for old, new in zip(before, student.get_weights()):
        assert np.all(np.isfinite(new))
        assert not np.array_equal(old, new)
    return logs


def test_default_loss_under_xla():
    _assert_trains_under_xla(None)


def test_every_exported_loss_under_xla():
    """Every exported logit loss as a term of one XLA-compiled Distiller,
    each with its own weight, so that a term computed otherwise under XLA
    changes the total."""
    losses = _logit_losses()
    assert len({type(loss) for loss in losses}) == len(losses) >= 10
    logs = _assert_trains_under_xla(losses, [0.5 + index for index in range(len(losses))])
    for loss in losses:
        assert np.isfinite(logs[loss.name]), loss.name


def _cnn(filters, name):
    inputs = keras.Input((8, 8, 1))
    hidden = keras.layers.Conv2D(filters, 3, padding="same", activation="relu", name="conv")(
        inputs
    )
    pooled = keras.layers.GlobalAveragePooling2D(name="pool")(hidden)
    return keras.Model(inputs, keras.layers.Dense(3)(pooled), name=name)


def test_feature_terms_under_xla():
    """Every feature term, with an adapter, in one XLA-compiled Distiller."""
    keras.utils.set_random_seed(0)
    teacher, student = _cnn(8, "teacher"), _cnn(4, "student")
    layers = {"teacher_layer": "conv", "student_layer": "conv"}
    vectors = {"teacher_layer": "pool", "student_layer": "pool"}
    terms = [
        kd.losses.KLDivergence(),
        kd.losses.Hint(**layers),
        kd.losses.AttentionTransfer(**layers),
        kd.losses.SimilarityPreserving(**layers),
        kd.losses.RKD(**vectors),
        kd.losses.PKT(**vectors),
    ]
    exported = {c for c in _all_feature_classes()}
    assert exported == {type(term) for term in terms[1:]}
    distiller = kd.Distiller(teacher=teacher, student=student, distillation_loss_fn=terms)
    distiller.compile(optimizer=keras.optimizers.SGD(0.1), jit_compile=True)
    x = np.random.default_rng(0).normal(size=(8, 8, 8, 1)).astype("float32")
    before = student.get_weights()
    history = distiller.fit(x, batch_size=8, epochs=1, verbose=0).history
    for term in terms:
        assert np.isfinite(history[term.name][0]), term.name
    assert distiller.adapters["hint"].trainable_weights
    for old, new in zip(before, student.get_weights()):
        assert np.all(np.isfinite(new))
        assert not np.array_equal(old, new)


def _all_feature_classes():
    return {
        value
        for name in kd.losses.__all__
        if inspect.isclass(value := getattr(kd.losses, name))
        and issubclass(value, FeatureLoss)
        and value is not FeatureLoss
    }
