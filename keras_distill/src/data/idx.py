"""Reading IDX files, the format of MNIST and Fashion-MNIST (gzip or plain).

Format (http://yann.lecun.com/exdb/mnist/): two zero bytes, a type code, the
number of dimensions `n`, then `n` big-endian uint32 sizes, then the values in
C order, big-endian.
"""

import gzip
import os

import numpy as np

from keras_distill.src.utils.errors import invalid_argument

_DTYPES = {
    0x08: np.dtype("u1"),
    0x09: np.dtype("i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}

# The four files of a split, by their standard names (LeCun's and Zalando's).
SPLIT_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}


def read_idx(path):
    """Reads one IDX file (gzip-compressed or not) into a numpy array.

    Args:
        path: Path to the file, e.g. `train-images-idx3-ubyte.gz`. Gzip is
            detected from the file's first bytes, not its name.

    Returns:
        A numpy array with the file's shape, in native byte order.
    """
    with open(path, "rb") as file:
        data = file.read()
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    if len(data) < 4 or data[:2] != b"\x00\x00" or data[2] not in _DTYPES:
        raise invalid_argument(
            "path",
            os.fspath(path),
            "an IDX file (starting with bytes 00 00, a type code and the rank)",
            "Pass the original MNIST/Fashion-MNIST files (gzip or plain).",
        )
    dtype, rank = _DTYPES[data[2]], data[3]
    header = 4 + 4 * rank
    shape = tuple(int(s) for s in np.frombuffer(data[4:header], dtype=">u4"))
    expected = int(np.prod(shape)) * dtype.itemsize
    if len(data) - header != expected:
        raise invalid_argument(
            "path",
            os.fspath(path),
            f"{expected} bytes of data for shape {shape}, found "
            f"{len(data) - header}",
            "The file is truncated or corrupt: download it again.",
        )
    values = np.frombuffer(data, dtype=dtype, offset=header).reshape(shape)
    return values.astype(dtype.newbyteorder("="))


def _find(directory, stem):
    """The path of `stem` in `directory` (also `stem.gz` and `a.idx3-ubyte`)."""
    dotted = stem.replace("-idx", ".idx")
    for name in (stem, stem + ".gz", dotted, dotted + ".gz"):
        path = os.path.join(directory, name)
        if os.path.isfile(path):
            return path
    return None


def has_idx_files(directory):
    """True when `directory` holds the four IDX files of MNIST-like data."""
    return all(
        _find(directory, stem) is not None
        for stems in SPLIT_FILES.values()
        for stem in stems
    )


def load_idx_directory(directory):
    """Loads MNIST-like IDX files from a directory.

    Args:
        directory: A folder with `train-images-idx3-ubyte[.gz]`,
            `train-labels-idx1-ubyte[.gz]`, `t10k-images-idx3-ubyte[.gz]` and
            `t10k-labels-idx1-ubyte[.gz]` (Debian's `dataset-fashion-mnist`
            installs them in `/usr/share/datasets/fashion-mnist`).

    Returns:
        `{"train": (images, labels), "test": (images, labels)}` with images of
        shape `(n, height, width, 1)` as uint8 and labels as int32.
    """
    splits = {}
    for split, (image_stem, label_stem) in SPLIT_FILES.items():
        paths = [_find(directory, image_stem), _find(directory, label_stem)]
        if None in paths:
            raise invalid_argument(
                "data_dir",
                os.fspath(directory),
                f"a folder with {image_stem}[.gz] and {label_stem}[.gz]",
            )
        images, labels = (read_idx(path) for path in paths)
        if images.ndim == 3:
            images = images[..., None]
        if labels.ndim != 1 or len(labels) != len(images):
            raise invalid_argument(
                "data_dir",
                os.fspath(directory),
                f"as many {split} labels as images (found shapes "
                f"{labels.shape} and {images.shape})",
            )
        splits[split] = (images, labels.astype("int32"))
    return splits
