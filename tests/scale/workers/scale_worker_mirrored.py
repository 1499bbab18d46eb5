"""Worker for tests/scale/test_mirrored.py: one device vs two replicas.

    python scale_worker_mirrored.py OUT.json

Splits the CPU into two logical devices (this must happen before TensorFlow
initializes its devices, hence a process of its own), then trains the same
Distiller, from the same initial weights and on the same global batches,
under the default strategy and under a two-replica MirroredStrategy. Writes
histories, evaluation results and weights to OUT.json.
"""

import json
import sys

GLOBAL_BATCH = 8


def configure_devices():
    import tensorflow as tf

    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(
        cpu, [tf.config.LogicalDeviceConfiguration()] * 2
    )
    return tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])


def data():
    import numpy as np

    rng = np.random.default_rng(0)
    # 13 examples: batches of 8 and 5; the 5 split 3 + 2 across replicas.
    x = rng.normal(size=(13, 4)).astype("float32")
    y = (np.arange(13) % 3).astype("int32")
    sample_weight = rng.uniform(0.0, 3.0, size=13).astype("float32")
    sample_weight[:3] = 0.0  # Replica 0 of batch 1 has far less weight.
    return x, y, sample_weight


def models():
    import keras

    keras.utils.set_random_seed(1)
    teacher = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)])
    student = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)])
    return teacher, student


def our_distiller():
    import keras

    import keras_distill as kd

    teacher, student = models()
    distiller = kd.Distiller(
        teacher=teacher,
        student=student,
        distillation_loss_fn=[kd.losses.KLDivergence(), "mean_squared_error"],
        distillation_loss_weights=[1.0, 0.5],
    )
    distiller.compile(
        optimizer=keras.optimizers.SGD(0.5),
        student_loss_fn=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        alpha=0.3,
        temperature=keras.optimizers.schedules.ExponentialDecay(4.0, 1, 0.8),
    )
    return distiller


def keras_io_distiller():
    """A keras.io-style Distiller: `compute_loss` overridden with a plain mean
    of per-example losses, without Keras's replica scaling. Under R replicas
    its logged loss and val_loss are R times too large and its gradients R
    times too strong: tensorflow issue 48817."""
    import keras
    from keras import ops

    class KerasIoDistiller(keras.Model):
        def __init__(self, student, teacher, alpha=0.3, temperature=4.0):
            super().__init__()
            self.teacher, self.student = teacher, student
            self.alpha, self.temperature = alpha, temperature

        def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None,
                         allow_empty=False, training=None):
            teacher_pred = self.teacher(x, training=False)
            student_loss = ops.mean(keras.losses.sparse_categorical_crossentropy(
                y, y_pred, from_logits=True))
            t = self.temperature
            distillation_loss = ops.mean(keras.losses.kl_divergence(
                ops.softmax(teacher_pred / t, axis=1),
                ops.softmax(y_pred / t, axis=1),
            )) * (t**2)
            return self.alpha * student_loss + (1 - self.alpha) * distillation_loss

        def call(self, x):
            return self.student(x)

    teacher, student = models()
    distiller = KerasIoDistiller(student=student, teacher=teacher)
    distiller.compile(optimizer=keras.optimizers.SGD(0.5))
    return distiller


def run(strategy, make_distiller, weighted):
    import tensorflow as tf

    x, y, sample_weight = data()
    parts = (x, y, sample_weight) if weighted else (x, y)
    dataset = tf.data.Dataset.from_tensor_slices(parts).batch(GLOBAL_BATCH)
    first_batch = dataset.take(1)
    with strategy.scope():
        distiller = make_distiller()
        initial = {
            "teacher": [w.tolist() for w in distiller.teacher.get_weights()],
            "student": [w.tolist() for w in distiller.student.get_weights()],
        }
        first = distiller.fit(first_batch, epochs=1, verbose=0).history
        history = distiller.fit(
            dataset, epochs=2, verbose=0, validation_data=dataset
        ).history
        evaluation = distiller.evaluate(dataset, verbose=0, return_dict=True)
    return {
        "initial": initial,
        "first_step": {k: float(v[0]) for k, v in first.items()},
        "history": {k: [float(v) for v in vs] for k, vs in history.items()},
        "evaluate": {k: float(v) for k, v in evaluation.items()},
        "student": [w.tolist() for w in distiller.student.get_weights()],
        "iterations": int(distiller.optimizer.iterations.numpy()),
    }


def main(out):
    mirrored = configure_devices()
    import tensorflow as tf

    single = tf.distribute.get_strategy()
    result = {"replicas": mirrored.num_replicas_in_sync}
    for name, make, weighted in (
        ("ours", our_distiller, True),
        ("keras_io", keras_io_distiller, False),
    ):
        result[name] = {
            "single": run(single, make, weighted),
            "mirrored": run(mirrored, make, weighted),
        }
    x, y, sample_weight = data()
    result["data"] = {
        "x": x.tolist(), "y": y.tolist(), "sample_weight": sample_weight.tolist()
    }
    with open(out, "w") as file:
        json.dump(result, file)


if __name__ == "__main__":
    main(sys.argv[1])
