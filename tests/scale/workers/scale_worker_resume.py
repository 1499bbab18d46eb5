"""Worker for tests/scale/test_fault_tolerance.py: a run that may die.

    python scale_worker_resume.py BACKUP_DIR OUT.npz [--kill-at-step K]
        [--tear-save N] [--keras-callback]

Trains a Distiller (Adam, temperature schedule, Dropout) for 3 epochs of 6
batches with a BackupAndRestore saving every 2 batches. `--kill-at-step K`
SIGKILLs the process after global step K; `--tear-save N` SIGKILLs it in the
middle of the N-th checkpoint write (the weights file is left half written).
A run that finishes writes its final student weights, what it restored from,
and the weights of an uninterrupted reference run, to OUT.npz.
"""

import os
import signal
import sys

EPOCHS, STEPS, BATCH, SAVE_FREQ = 3, 6, 4, 2


def build():
    import keras

    import keras_distill as kd

    keras.utils.set_random_seed(7)
    teacher = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)])
    student = keras.Sequential(
        [
            keras.Input((4,)),
            keras.layers.Dense(8, activation="relu"),
            keras.layers.Dropout(0.25, seed=3),
            keras.layers.Dense(3),
        ]
    )
    distiller = kd.Distiller(teacher=teacher, student=student)
    distiller.compile(
        optimizer=keras.optimizers.Adam(0.05),
        student_loss_fn=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        alpha=0.5,
        temperature=keras.optimizers.schedules.ExponentialDecay(4.0, 1, 0.9),
    )
    return distiller


def data():
    import numpy as np

    rng = np.random.default_rng(0)
    x = rng.normal(size=(STEPS * BATCH, 4)).astype("float32")
    return x, (np.arange(STEPS * BATCH) % 3).astype("int32")


def killer_callbacks(args, distiller):
    import keras

    callbacks = []
    if "--kill-at-step" in args:
        kill_at = int(args[args.index("--kill-at-step") + 1])

        class KillAtStep(keras.callbacks.Callback):
            def on_train_batch_end(self, batch, logs=None):
                if int(self.model.optimizer.iterations.numpy()) == kill_at:
                    os.kill(os.getpid(), signal.SIGKILL)

        callbacks.append(KillAtStep())
    if "--tear-save" in args:
        tear_at = int(args[args.index("--tear-save") + 1])
        save_weights, saves = distiller.save_weights, [0]

        def tearing_save_weights(filepath, **kwargs):
            saves[0] += 1
            save_weights(filepath, **kwargs)
            if saves[0] == tear_at:
                size = os.path.getsize(filepath)
                with open(filepath, "r+b") as file:
                    file.truncate(size // 2)
                os.kill(os.getpid(), signal.SIGKILL)

        distiller.save_weights = tearing_save_weights
    return callbacks


def main(args):
    backup_dir, out = args[0], args[1]
    import keras
    import numpy as np
    import tensorflow as tf

    import keras_distill as kd

    tf.config.experimental.enable_op_determinism()
    x, y = data()
    distiller = build()
    if "--keras-callback" in args:
        backup = keras.callbacks.BackupAndRestore(backup_dir, save_freq=SAVE_FREQ)
        restored = {}
    else:
        backup = kd.callbacks.BackupAndRestore(backup_dir, save_freq=SAVE_FREQ)
        restored = backup.read_metadata() or {}
    fit_args = dict(epochs=EPOCHS, batch_size=BATCH, shuffle=False, verbose=0)
    distiller.fit(
        x, y, callbacks=[backup, *killer_callbacks(args, distiller)], **fit_args
    )
    resumed = [w.copy() for w in distiller.student.get_weights()]
    reference = build()
    reference.fit(x, y, **fit_args)
    np.savez(
        out,
        restored_epoch=restored.get("epoch", -1),
        restored_batches=restored.get("batches_done", -1),
        iterations=int(distiller.optimizer.iterations.numpy()),
        temperature=float(distiller.temperature.numpy()),
        reference_temperature=float(reference.temperature.numpy()),
        backup_dir_left=os.path.exists(backup_dir),
        **{f"resumed_{i}": w for i, w in enumerate(resumed)},
        **{f"reference_{i}": w for i, w in enumerate(reference.student.get_weights())},
    )


if __name__ == "__main__":
    main(sys.argv[1:])
