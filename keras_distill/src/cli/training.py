"""Training and evaluation steps of the CLI, each a plain `fit` call."""

import sys

import keras
import numpy as np
from keras import ops

from keras_distill.src.data.dataset import UNLABELED
from keras_distill.src.distiller.distiller import Distiller


class EpochProgress(keras.callbacks.Callback):
    """One Keras progress bar per training run, advancing by epoch."""

    def __init__(self, title, epochs, enabled=True):
        super().__init__()
        self.title, self.epochs, self.enabled = title, epochs, enabled

    def on_train_begin(self, logs=None):
        if self.enabled:
            print(self.title, flush=True)
            # Like fit(verbose="auto"): a live bar on a terminal, else one line.
            self.bar = keras.utils.Progbar(
                self.epochs, verbose=1 if sys.stdout.isatty() else 2, unit_name="epoch"
            )

    def on_epoch_end(self, epoch, logs=None):
        if self.enabled:
            shown = ("loss", "accuracy", "val_accuracy", "temperature")
            values = [(key, float(logs[key])) for key in shown if key in (logs or {})]
            self.bar.update(epoch + 1, values=values, finalize=epoch + 1 == self.epochs)


class LabeledAccuracy(keras.metrics.SparseCategoricalAccuracy):
    """Accuracy over the labeled examples only (`y != UNLABELED`)."""

    def __init__(self, name="accuracy", **kwargs):
        super().__init__(name=name, **kwargs)

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_true = ops.reshape(ops.convert_to_tensor(y_true), (-1,))
        labeled = ops.cast(ops.not_equal(y_true, UNLABELED), "float32")
        if sample_weight is not None:
            labeled = labeled * ops.reshape(ops.cast(sample_weight, "float32"), (-1,))
        y_true = ops.maximum(y_true, ops.zeros_like(y_true))
        return super().update_state(y_true, y_pred, sample_weight=labeled)


def hard_label_loss():
    """Cross-entropy on logits that ignores unlabeled examples (`y = -1`)."""
    return keras.losses.SparseCategoricalCrossentropy(
        from_logits=True, ignore_class=UNLABELED
    )


def train_classifier(model, train, *, epochs, learning_rate, title, verbose,
                     steps_per_epoch=None):
    """Trains `model` on hard labels alone (the teacher, or a scratch student).

    Plain Keras loss and metric, so the saved model loads without keras_distill.
    """
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    return model.fit(
        train,
        epochs=epochs,
        steps_per_epoch=steps_per_epoch,
        shuffle=False,  # The pipelines shuffle themselves.
        verbose=0,
        callbacks=[EpochProgress(title, epochs, enabled=verbose)],
    )


def distill(teacher, student, train, *, epochs, learning_rate, temperature,
            alpha, title, verbose, validation_data=None,
            distillation_loss_fn=None):
    """Trains `student` from `teacher` with a `Distiller`; returns the History.

    Examples labeled `UNLABELED` get the distillation terms only.
    """
    distiller = Distiller(
        teacher=teacher, student=student, distillation_loss_fn=distillation_loss_fn
    )
    distiller.compile(
        optimizer=keras.optimizers.Adam(learning_rate),
        metrics=[LabeledAccuracy()],
        student_loss_fn=hard_label_loss(),
        alpha=alpha,
        temperature=temperature,
    )
    return distiller.fit(
        train,
        epochs=epochs,
        validation_data=validation_data,
        shuffle=False,
        verbose=0,
        callbacks=[EpochProgress(title, epochs, enabled=verbose)],
    )


def accuracy(model, batches):
    """Top-1 accuracy of `model` over a pipeline of `(x, y)` batches."""
    correct = total = 0
    for x, y in batches:
        predicted = np.argmax(ops.convert_to_numpy(model(x, training=False)), axis=-1)
        correct += int(np.sum(predicted == np.asarray(y)))
        total += len(predicted)
    return correct / max(total, 1)


def history_lists(history):
    """`History.history` as plain lists of floats (for results.json)."""
    return {key: [float(value) for value in values] for key, values in history.history.items()}


def model_entry(title, model, test_batches, labels, architecture=None):
    """One model's row of results.json: accuracy, size and where it is saved."""
    return {
        "title": title,
        "architecture": architecture or model.name,
        "labels": labels,
        "accuracy": accuracy(model, test_batches),
        "params": model.count_params(),
        "file": None,
        "file_size_bytes": None,
    }
