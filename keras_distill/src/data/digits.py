"""scikit-learn's bundled 8x8 digits: a dataset that needs no network."""

import numpy as np

from keras_distill.src.utils.imports import require

NUM_TEST = 360


def load_digits_arrays():
    """The 1,797 digits of scikit-learn, split 1,437 train / 360 test.

    The split is fixed (a permutation with seed 0) so that results are
    comparable across runs and seeds. Pixels are integers 0..16.

    Returns:
        `{"train": (images, labels), "test": (images, labels)}` with images of
        shape `(n, 8, 8, 1)` as uint8 and labels as int32.
    """
    datasets = require("sklearn.datasets", "scikit-learn", extra="demo")
    digits = datasets.load_digits()
    images = digits.images.astype("uint8")[..., None]
    labels = digits.target.astype("int32")
    order = np.random.default_rng(0).permutation(len(images))
    test, train = order[:NUM_TEST], order[NUM_TEST:]
    return {
        "train": (images[train], labels[train]),
        "test": (images[test], labels[test]),
    }
