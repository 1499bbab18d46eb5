"""Callbacks for training a `Distiller` with `fit`."""

from keras_distill.src.callbacks.backup_and_restore import BackupAndRestore

__all__ = [
    "BackupAndRestore",
]
