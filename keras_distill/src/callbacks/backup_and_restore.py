"""Crash-safe, mid-epoch-exact backup and restore of a training run."""

import glob
import json
import os
import shutil

import keras

from keras_distill.src.utils import keras_compat
from keras_distill.src.utils.errors import invalid_argument

_METADATA = "training_metadata.json"
_STAGING = "staging.weights.h5"


def _fsync_path(path):
    """Flushes a file or directory to disk (no-op where unsupported)."""
    try:
        descriptor = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(descriptor)
    except OSError:
        pass
    finally:
        os.close(descriptor)


def _random_states(model):
    """The model's random-generator states (e.g. each Dropout's), which
    `save_weights` leaves out: `model.variables` minus `model.weights`."""
    weights = {id(variable) for variable in model.weights}
    return [v for v in model.variables if id(v) not in weights]


def _replace_atomically(source, target):
    """Renames `source` over `target` after both reach the disk."""
    _fsync_path(source)
    os.replace(source, target)
    _fsync_path(os.path.dirname(target) or ".")


class BackupAndRestore(keras.callbacks.Callback):
    """`keras.callbacks.BackupAndRestore` that survives SIGKILL at any moment.

    Same arguments and use as the Keras callback; two differences, both
    needed to resume a killed run exactly (measured in `docs/scaling.md`):

    1. Atomic checkpoints. Keras rewrites `latest.weights.h5` in place and
       its metadata in a second file, so a kill during a save leaves a torn
       weights file, or new weights with old metadata. Here the weights go
       to a new file, then the metadata (epoch, batches done, weights file)
       is written to a temporary file and renamed over the old one: that
       rename is the commit. A checkpoint on disk is always either the
       previous one or the new one, never a mix.
    2. Mid-epoch resume. Keras restores weights saved after batch `k` of
       epoch `e` and then replays epoch `e` from batch 0, so batches `0..k`
       are applied twice. Here the first `k + 1` batches of the resumed
       epoch are read from the dataset and skipped, so training continues
       with batch `k + 1`.

    Weights, optimizer state (moments, `iterations`, hence scheduled
    hyperparameters) and the layers' random-generator states (Dropout
    masks; `save_weights` leaves them out) are restored. Metric
    accumulators are not: the logs of the resumed epoch cover only the
    batches run after the restart. Resumption is bitwise exact when each
    epoch reads its batches in an order that depends only on the epoch (no
    shuffling, or a shuffle seeded per epoch) and ops are deterministic
    (`tf.config.experimental.enable_op_determinism()`).

    Only local directories are supported (atomic renames); the TensorFlow
    backend is required for mid-epoch resume.

    Args:
        backup_dir: Local directory holding the checkpoint; used by this
            callback only.
        save_freq: `"epoch"` or an integer number of batches between saves.
        delete_checkpoint: Whether to delete `backup_dir` when `fit` ends.

    Example:

    ```python
    backup = keras_distill.callbacks.BackupAndRestore(
        "/tmp/backup", save_freq=100)
    distiller.fit(dataset, epochs=10, callbacks=[backup])
    # Killed? Run the same script again: it resumes after the last save.
    ```
    """

    def __init__(self, backup_dir, save_freq="epoch", delete_checkpoint=True):
        super().__init__()
        if not backup_dir or "://" in str(backup_dir):
            raise invalid_argument(
                "backup_dir",
                backup_dir,
                "a local directory path",
                "Atomic renames need a local file system; for remote "
                "storage use keras.callbacks.BackupAndRestore.",
            )
        valid_int = isinstance(save_freq, int) and not isinstance(
            save_freq, bool
        )
        if save_freq != "epoch" and not (valid_int and save_freq > 0):
            raise invalid_argument(
                "save_freq",
                save_freq,
                "either 'epoch' or an integer number of batches > 0",
            )
        self.backup_dir = str(backup_dir)
        self.save_freq = save_freq
        self.delete_checkpoint = delete_checkpoint
        self._epoch = 0
        self._batches_done = 0
        self._since_save = 0
        self._skipping = False

    # ------------------------------------------------------------------
    # Checkpoint files
    # ------------------------------------------------------------------

    @property
    def _metadata_path(self):
        return os.path.join(self.backup_dir, _METADATA)

    def read_metadata(self):
        """The committed checkpoint's metadata, or None when there is none.

        A dict with `epoch`, `batches_done` (batches of `epoch` already
        trained) and `weights` (file name in `backup_dir`).
        """
        if not os.path.exists(self._metadata_path):
            return None
        with open(self._metadata_path) as file:
            return json.load(file)

    def _save(self, epoch, batches_done):
        os.makedirs(self.backup_dir, exist_ok=True)
        name = f"epoch{epoch:06d}-batch{batches_done:08d}.weights.h5"
        staging = os.path.join(self.backup_dir, _STAGING)
        self.model.save_weights(staging, overwrite=True)
        _replace_atomically(staging, os.path.join(self.backup_dir, name))
        metadata = {
            "epoch": epoch,
            "batches_done": batches_done,
            "weights": name,
            "random_states": [
                keras.ops.convert_to_numpy(state).tolist()
                for state in _random_states(self.model)
            ],
        }
        temporary = f"{self._metadata_path}.tmp"
        with open(temporary, "w") as file:
            json.dump(metadata, file)
        _replace_atomically(temporary, self._metadata_path)
        # Older weights are no longer referenced by the committed metadata.
        pattern = os.path.join(self.backup_dir, "*.weights.h5")
        for path in glob.glob(pattern):
            if os.path.basename(path) != name:
                os.remove(path)

    def _restore(self, metadata):
        if not self.model.built:
            raise ValueError(
                "BackupAndRestore needs a built model to restore into. "
                f"Received: model {self.model.name!r}, unbuilt. Build it "
                "before `fit()`, e.g. by calling it on a batch of data."
            )
        optimizer = self.model.optimizer
        if optimizer is not None and not optimizer.built:
            optimizer.build(self.model.trainable_variables)
        path = os.path.join(self.backup_dir, metadata["weights"])
        self.model.load_weights(path)
        states = _random_states(self.model)
        saved = metadata.get("random_states", [])
        if len(saved) != len(states):
            raise ValueError(
                f"The checkpoint in {self.backup_dir!r} holds {len(saved)} "
                f"random-generator states; model {self.model.name!r} has "
                f"{len(states)}. Expected the model that wrote the "
                "checkpoint: restore with the same architecture, or delete "
                "the backup directory to start over."
            )
        for state, value in zip(states, saved):
            state.assign(keras.ops.convert_to_tensor(value, dtype=state.dtype))

    # ------------------------------------------------------------------
    # Callback hooks
    # ------------------------------------------------------------------

    def on_train_begin(self, logs=None):
        metadata = self.read_metadata()
        if metadata is None:
            return
        self._restore(metadata)
        self._epoch = metadata["epoch"]
        keras_compat.set_initial_epoch(self.model, self._epoch)
        if metadata["batches_done"] > 0:
            self._skip_batches(metadata["batches_done"])

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch
        self._batches_done = 0

    def on_train_batch_end(self, batch, logs=None):
        if self._skipping:
            return
        self._since_save += batch + 1 - self._batches_done
        self._batches_done = batch + 1
        if self.save_freq != "epoch" and self._since_save >= self.save_freq:
            self._since_save = 0
            self._save(self._epoch, self._batches_done)

    def on_epoch_end(self, epoch, logs=None):
        if self.save_freq == "epoch":
            self._save(epoch + 1, 0)

    def on_train_end(self, logs=None):
        keras_compat.set_initial_epoch(self.model, None)
        if self.delete_checkpoint and os.path.isdir(self.backup_dir):
            shutil.rmtree(self.backup_dir)

    # ------------------------------------------------------------------
    # Mid-epoch resume
    # ------------------------------------------------------------------

    def _skip_batches(self, count):
        """Makes the next train-function calls consume `count` batches
        without training on them (they were trained before the crash)."""
        model = self.model
        train_function = model.train_function
        if keras.backend.backend() != "tensorflow" or train_function is None:
            raise NotImplementedError(
                "Resuming in the middle of an epoch needs the TensorFlow "
                f"backend; the current backend is {keras.backend.backend()!r}."
                " Use save_freq='epoch' on other backends."
            )
        remaining = [count]
        self._skipping = True
        self._batches_done = count
        per_call = max(1, int(getattr(model, "steps_per_execution", 1)))

        def skip_then_train(iterator):
            if remaining[0] <= 0:
                model.train_function = train_function
                self._skipping = False
                return train_function(iterator)
            for _ in range(min(per_call, remaining[0])):
                next(iterator)  # StopIteration ends the epoch, as in fit.
            remaining[0] -= per_call
            if remaining[0] <= 0:
                model.train_function = train_function
                self._skipping = False
            return {}

        model.train_function = skip_then_train
