"""Shared pieces of the benchmarks: data, models, FLOPs, timing, backends.

Everything that depends on a keras-distill feature still being built on
another branch lives in `benchmarks/features.py`, so it can be filled in when
that branch lands without touching the scripts.
"""

import gzip
import json
import os
import platform
import struct
import sys
import time

import numpy as np

FASHION_MNIST_DIR = "/usr/share/datasets/fashion-mnist"
CACHE_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), ".cache")
NUM_CLASSES = 10
IMAGE_SHAPE = (28, 28, 1)


def configure_environment():
    """Quiet TF logs and pick the TensorFlow backend unless one is set."""
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


# ----------------------------------------------------------------------
# Data
# ----------------------------------------------------------------------


def read_idx(path):
    """Reads an IDX file (optionally gzipped) into a numpy array.

    The IDX format (http://yann.lecun.com/exdb/mnist/): 2 zero bytes, a type
    byte (0x08 = uint8), the number of dimensions, then one big-endian uint32
    per dimension, then the data.
    """
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        data = f.read()
    zero, dtype_code, ndim = struct.unpack(">HBB", data[:4])
    if zero != 0 or dtype_code != 0x08:
        raise ValueError(
            f"Invalid IDX file. Received: path={path!r} with header "
            f"({zero}, {dtype_code:#x}). Expected an unsigned-byte IDX file "
            "(header 0, 0x08) such as Fashion-MNIST's."
        )
    shape = struct.unpack(f">{ndim}I", data[4 : 4 + 4 * ndim])
    array = np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim)
    return array.reshape(shape)


def _find(directory, stem):
    for name in (stem, stem + ".gz"):
        path = os.path.join(directory, name)
        if os.path.exists(path):
            return path
    raise FileNotFoundError(
        f"Fashion-MNIST file {stem}[.gz] not found in {directory!r}. Install "
        "it with `apt-get install -y dataset-fashion-mnist`, or pass "
        "--data-dir with the four IDX files."
    )


def set_fashion_mnist_sizes(args):
    """`args.train_size`, `test_size` (None: all) and `validation_size`
    (carved from the training images) for `--quick` and `--tiny`."""
    args.train_size, args.test_size, args.validation_size = None, None, 6000
    if args.quick:
        args.train_size, args.test_size, args.validation_size = 10000, 2000, 1000
    if args.tiny:
        args.train_size, args.test_size, args.validation_size = 640, 256, 128


def load_fashion_mnist(directory=FASHION_MNIST_DIR):
    """Returns `(x_train, y_train), (x_test, y_test)`; x float32 in [0, 1]
    of shape `(n, 28, 28, 1)`, y int32."""

    def images(stem):
        x = read_idx(_find(directory, stem)).astype("float32") / 255.0
        return x[..., None]

    def labels(stem):
        return read_idx(_find(directory, stem)).astype("int32")

    return (
        (images("train-images-idx3-ubyte"), labels("train-labels-idx1-ubyte")),
        (images("t10k-images-idx3-ubyte"), labels("t10k-labels-idx1-ubyte")),
    )


def synthetic_data(num_examples, seed=0):
    """Random Fashion-MNIST-shaped data (speed does not depend on values)."""
    rng = np.random.default_rng(seed)
    x = rng.random((num_examples, *IMAGE_SHAPE), dtype=np.float32)
    y = rng.integers(0, NUM_CLASSES, size=(num_examples,)).astype("int32")
    return x, y


# ----------------------------------------------------------------------
# Models
# ----------------------------------------------------------------------


def teacher_cnn(width=32, name="teacher"):
    """A VGG-style CNN: 3 conv blocks (w, 2w, 4w filters) with BatchNorm.

    At `width=32` it costs about 7.7M multiply-adds per image, 26x the small
    CNN student and 75x the MLP student, and reaches about 92-93% on
    Fashion-MNIST.
    """
    import keras
    from keras import layers

    inputs = keras.Input(IMAGE_SHAPE, name="image")
    x = inputs
    for block, filters in enumerate((width, 2 * width, 4 * width)):
        x = layers.Conv2D(filters, 3, padding="same", use_bias=False,
                          name=f"conv{block + 1}")(x)
        x = layers.BatchNormalization(name=f"bn{block + 1}")(x)
        x = layers.ReLU(name=f"relu{block + 1}")(x)
        x = layers.MaxPooling2D(2, name=f"pool{block + 1}")(x)
    x = layers.Flatten(name="flatten")(x)
    x = layers.Dropout(0.3, name="dropout1")(x)
    x = layers.Dense(256, activation="relu", name="dense1")(x)
    x = layers.Dropout(0.3, name="dropout2")(x)
    outputs = layers.Dense(NUM_CLASSES, name="logits")(x)
    return keras.Model(inputs, outputs, name=name)


def student_mlp(hidden=128, name="student_mlp"):
    """The MLP 784-`hidden`-10 student (logits out)."""
    import keras
    from keras import layers

    inputs = keras.Input(IMAGE_SHAPE, name="image")
    x = layers.Flatten(name="flatten")(inputs)
    x = layers.Dense(hidden, activation="relu", name="hidden")(x)
    outputs = layers.Dense(NUM_CLASSES, name="logits")(x)
    return keras.Model(inputs, outputs, name=name)


def student_cnn(filters=(8, 16), name="student_cnn"):
    """The small CNN student: conv(8)-pool-conv(16)-pool-dense(10)."""
    import keras
    from keras import layers

    inputs = keras.Input(IMAGE_SHAPE, name="image")
    x = inputs
    for block, width in enumerate(filters):
        x = layers.Conv2D(width, 3, padding="same", activation="relu",
                          name=f"conv{block + 1}")(x)
        x = layers.MaxPooling2D(2, name=f"pool{block + 1}")(x)
    x = layers.Flatten(name="flatten")(x)
    outputs = layers.Dense(NUM_CLASSES, name="logits")(x)
    return keras.Model(inputs, outputs, name=name)


def multiply_adds(model):
    """Multiply-adds of one forward pass of one example (Conv2D and Dense)."""
    import keras

    total = 0
    for layer in model.layers:
        if isinstance(layer, keras.layers.Conv2D):
            kh, kw = layer.kernel_size
            in_channels = layer.input.shape[-1]
            _, h, w, out_channels = layer.output.shape
            total += h * w * out_channels * kh * kw * in_channels
        elif isinstance(layer, keras.layers.Dense):
            total += layer.input.shape[-1] * layer.units
    return int(total)


# ----------------------------------------------------------------------
# Timing and reporting
# ----------------------------------------------------------------------


def epoch_timer():
    """A Keras callback recording each epoch's wall time in `.times`."""
    import keras

    class EpochTimer(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.times = []

        def on_epoch_begin(self, epoch, logs=None):
            self._start = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            self.times.append(time.perf_counter() - self._start)

    return EpochTimer()


def machine_description():
    """Backend, versions and CPU count, for the JSON reports."""
    import keras

    info = {
        "python": sys.version.split()[0],
        "keras": keras.__version__,
        "backend": keras.backend.backend(),
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
    }
    if hasattr(os, "getloadavg"):
        info["load_average"] = os.getloadavg()
    if info["backend"] == "tensorflow":
        import tensorflow as tf

        info["tensorflow"] = tf.__version__
        info["gpus"] = len(tf.config.list_physical_devices("GPU"))
    return info


def command_line():
    """The command that produced a report, as one could retype it."""
    backend = os.environ.get("KERAS_BACKEND", "tensorflow")
    return f"KERAS_BACKEND={backend} python -m benchmarks.{_script()} " + " ".join(
        sys.argv[1:]
    )


def _script():
    return os.path.splitext(os.path.basename(sys.argv[0]))[0]


def write_json(path, report):
    directory = os.path.dirname(path)
    if directory:
        os.makedirs(directory, exist_ok=True)
    with open(path, "w") as f:
        json.dump(report, f, indent=2, sort_keys=True)
        f.write("\n")


def resumed(path, settings, keys, defaults=None):
    """The report in `path` to resume (`{}` when there is none), after
    checking that `settings` agree with it on `keys` ("a.b" reads key b of
    a; `defaults` gives the values of keys that older files lack); exits
    naming the differences."""
    if not os.path.exists(path):
        return {}
    with open(path) as f:
        report = json.load(f)

    def value(source, key):
        for part in key.split("."):
            source = source.get(part) if isinstance(source, dict) else None
        return (defaults or {}).get(key) if source is None else source

    differences = [f"{key}: {value(report, key)!r} in the file, {value(settings, key)!r} now"
                   for key in keys if value(report, key) != value(settings, key)]
    if differences:
        raise SystemExit(f"--resume: {path} holds runs of other settings ("
                         + "; ".join(differences) + "). Pass another --out.")
    return report


def markdown_table(header, rows):
    """A GitHub-flavoured markdown table."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)
