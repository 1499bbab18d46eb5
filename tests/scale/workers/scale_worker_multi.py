"""Worker for tests/scale/test_multi_worker.py: one of two workers.

    TF_CONFIG=... python scale_worker_multi.py OUT.json

Trains a Distiller for a few steps under MultiWorkerMirroredStrategy (one
CPU replica per worker, collectives over gRPC on 127.0.0.1) and writes its
final student weights, and those of a one-device run on the same global
batches, to OUT.json.
"""

import json
import sys

GLOBAL_BATCH, STEPS = 8, 3


def dataset():
    import numpy as np
    import tensorflow as tf

    rng = np.random.default_rng(0)
    x = rng.normal(size=(GLOBAL_BATCH * STEPS, 4)).astype("float32")
    y = (np.arange(GLOBAL_BATCH * STEPS) % 3).astype("int32")
    weight = rng.uniform(0.0, 2.0, size=GLOBAL_BATCH * STEPS).astype("float32")
    data = tf.data.Dataset.from_tensor_slices((x, y, weight)).batch(GLOBAL_BATCH)
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = (
        tf.data.experimental.AutoShardPolicy.DATA
    )
    return data.with_options(options)


def train(strategy):
    import keras

    import keras_distill as kd

    with strategy.scope():
        keras.utils.set_random_seed(5)
        teacher = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)])
        student = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)])
        distiller = kd.Distiller(teacher=teacher, student=student)
        distiller.compile(
            optimizer=keras.optimizers.Adam(0.1),
            student_loss_fn=keras.losses.SparseCategoricalCrossentropy(
                from_logits=True
            ),
            alpha=0.5,
            temperature=2.0,
        )
    history = distiller.fit(dataset(), epochs=1, verbose=0).history
    return {
        "student": [w.tolist() for w in distiller.student.get_weights()],
        "loss": history["loss"][0],
        "iterations": int(distiller.optimizer.iterations.numpy()),
    }


def main(out):
    import tensorflow as tf

    options = tf.distribute.experimental.CommunicationOptions(
        implementation=tf.distribute.experimental.CommunicationImplementation.RING,
        timeout_seconds=300.0,
    )
    strategy = tf.distribute.MultiWorkerMirroredStrategy(communication_options=options)
    result = {
        "replicas": strategy.num_replicas_in_sync,
        "multi_worker": train(strategy),
        "one_device": train(tf.distribute.OneDeviceStrategy("/cpu:0")),
    }
    with open(out, "w") as file:
        json.dump(result, file)


if __name__ == "__main__":
    main(sys.argv[1])
