"""`load(name)`: digits, Fashion-MNIST, MNIST or any TensorFlow Datasets name."""

import os

from keras_distill.src.data import idx
from keras_distill.src.data.dataset import Dataset
from keras_distill.src.data.digits import load_digits_arrays
from keras_distill.src.utils import validation
from keras_distill.src.utils.errors import invalid_argument
from keras_distill.src.utils.imports import require

#: Where MNIST-like IDX files are looked for when `data_dir` is not given.
IDX_DIRECTORIES = {
    "fashion_mnist": ("/usr/share/datasets/fashion-mnist",),
    "mnist": (),
}
#: Debian packages that install those IDX files.
DEBIAN_PACKAGES = {"fashion_mnist": "dataset-fashion-mnist"}
NAMES = ("digits", "fashion_mnist", "mnist", "tfds:NAME")


def load(name="digits", data_dir=None, batch_size=64, seed=0):
    """Loads a classification dataset as batched, prefetching `tf.data` pipelines.

    Args:
        name: One of
            - `"digits"`: scikit-learn's bundled 8x8 digits (no network;
              1,437 train / 360 test, fixed split).
            - `"fashion_mnist"` or `"mnist"`: from the four IDX files in
              `data_dir` (gzip or plain), else from Debian's folder
              (`apt install dataset-fashion-mnist` fills
              /usr/share/datasets/fashion-mnist), else from
              `tensorflow_datasets` (downloads when online).
            - `"tfds:NAME"`: any image classification dataset of
              `tensorflow_datasets` with `train` and `test` splits and
              fixed-size inputs, e.g. `"tfds:cifar10"`.
        data_dir: Folder with IDX files, or the `tensorflow_datasets` data
            folder.
        batch_size: Examples per batch.
        seed: Seed of the training shuffle.

    Returns:
        A `keras_distill.datasets.Dataset`: `.train` and `.test` pipelines of
        `(x, y)` batches (x float32 in [0, 1], y int32) and `.num_classes`,
        `.input_shape`, `.num_train`, `.num_test`.
    """
    validation.check_count(batch_size, "batch_size")
    if data_dir is not None and not os.path.isdir(data_dir):
        raise invalid_argument(
            "data_dir", data_dir, "an existing folder", "Check the path."
        )
    options = {"batch_size": batch_size, "seed": seed}
    if name == "digits":
        return _from_arrays(name, "scikit-learn", load_digits_arrays(), 16.0, options)
    if name in IDX_DIRECTORIES:
        directories = (data_dir,) if data_dir else IDX_DIRECTORIES[name]
        for directory in directories:
            if os.path.isdir(directory) and idx.has_idx_files(directory):
                arrays = idx.load_idx_directory(directory)
                return _from_arrays(name, f"idx:{directory}", arrays, 255.0, options)
        return _from_tfds(name, data_dir, options, searched=directories)
    if isinstance(name, str) and name.startswith("tfds:") and len(name) > 5:
        return _from_tfds(name[5:], data_dir, options)
    raise invalid_argument(
        "dataset", name, f"one of {list(NAMES)}", "For example: 'digits' or 'tfds:mnist'."
    )


def _from_arrays(name, source, arrays, scale, options):
    import tensorflow as tf

    (x_train, y_train), (x_test, y_test) = arrays["train"], arrays["test"]
    return Dataset(
        name=name,
        source=source,
        num_classes=int(max(y_train.max(), y_test.max())) + 1,
        input_shape=tuple(x_train.shape[1:]),
        num_train=len(x_train),
        num_test=len(x_test),
        train_examples=tf.data.Dataset.from_tensor_slices((x_train, y_train)),
        test_examples=tf.data.Dataset.from_tensor_slices((x_test, y_test)),
        scale=scale,
        **options,
    )


def _from_tfds(name, data_dir, options, searched=None):
    tfds = require("tensorflow_datasets", "tensorflow-datasets", extra="datasets")
    try:
        (train, test), info = tfds.load(
            name,
            split=["train", "test"],
            as_supervised=True,
            with_info=True,
            data_dir=data_dir,
        )
    except tfds.core.registered.DatasetNotFoundError as error:
        raise invalid_argument(
            "dataset",
            f"tfds:{name}",
            "a tensorflow_datasets name such as 'tfds:mnist'",
            "See https://www.tensorflow.org/datasets/catalog/overview.",
        ) from error
    except Exception as error:  # Offline, or a dataset without these splits.
        lines = str(error).strip().splitlines()
        message = (
            f"Could not load dataset {name!r} with tensorflow_datasets: "
            f"{lines[0] if lines else type(error).__name__}."
        )
        if searched is not None:
            if searched:
                message += f" No IDX files were found in {', '.join(searched)}."
            fix = "pass --data-dir with the four IDX files (train-images-idx3-ubyte.gz, ...)."
            if name in DEBIAN_PACKAGES:
                fix = f"Install Debian's {DEBIAN_PACKAGES[name]}, or {fix}"
            message += f" {fix[0].upper()}{fix[1:]}"
        raise ValueError(message) from error
    return _check_tfds(name, train, test, info, options)


def _check_tfds(name, train, test, info, options):
    x_spec, y_spec = train.element_spec
    input_shape = tuple(x_spec.shape)
    if None in input_shape or not input_shape:
        raise invalid_argument(
            "dataset",
            f"tfds:{name}",
            f"inputs of one fixed shape (found {input_shape})",
            "Resize the images with tf.data and call keras_distill.datasets.make_pipeline.",
        )
    label = info.features[info.supervised_keys[1]]
    num_classes = getattr(label, "num_classes", None)
    if y_spec.shape.rank != 0 or not num_classes:
        raise invalid_argument(
            "dataset", f"tfds:{name}", "a classification dataset with one class label"
        )
    counts = [int(split.cardinality()) for split in (train, test)]
    for index, split_name in enumerate(("train", "test")):
        if counts[index] < 0:
            counts[index] = info.splits[split_name].num_examples
    return Dataset(
        name=name,
        source="tensorflow_datasets",
        num_classes=int(num_classes),
        input_shape=input_shape,
        num_train=counts[0],
        num_test=counts[1],
        train_examples=train,
        test_examples=test,
        scale=255.0 if x_spec.dtype.name == "uint8" else 1.0,
        **options,
    )
