"""Only the student reaches the exported file: no teacher weights, no Distiller."""

import os
import zipfile

import keras
import numpy as np
import pytest


def _kernel_bytes(model):
    """Raw float32 bytes of the first Dense kernel, as (in, out) and as (out, in).

    TFLite stores fully connected weights transposed.
    """
    kernel = keras.ops.convert_to_numpy(model.layers[0].kernel).astype("<f4")
    return kernel.tobytes(), np.ascontiguousarray(kernel.T).tobytes()


def _file_bytes(path):
    if path.endswith(".keras"):  # a zip archive holding model.weights.h5
        with zipfile.ZipFile(path) as archive:
            return b"".join(archive.read(name) for name in archive.namelist())
    if os.path.isdir(path):
        chunks = []
        for root, _, names in os.walk(path):
            for name in sorted(names):
                with open(os.path.join(root, name), "rb") as file:
                    chunks.append(file.read())
        return b"".join(chunks)
    with open(path, "rb") as file:
        return file.read()


@pytest.mark.parametrize("name", ["keras", "saved_model", "tflite"])
def test_exported_file_holds_the_student_not_the_teacher(distiller, exported, name):
    content = _file_bytes(exported[name])
    assert any(kernel in content for kernel in _kernel_bytes(distiller.student))  # control
    assert not any(kernel in content for kernel in _kernel_bytes(distiller.teacher))


def test_keras_file_is_the_bare_student(distiller, exported):
    reloaded = keras.models.load_model(exported["keras"])
    assert reloaded.name == "student"
    assert len(reloaded.weights) == len(distiller.student.weights)
    assert sum(int(np.prod(w.shape)) for w in reloaded.weights) == 64 * 32 + 32 + 32 * 10 + 10


def test_saved_model_tracks_only_student_variables(distiller, exported):
    import tensorflow as tf

    loaded = tf.saved_model.load(exported["saved_model"])
    shapes = sorted(tuple(v.shape) for v in loaded.variables)
    assert shapes == sorted(tuple(w.shape) for w in distiller.student.weights)
