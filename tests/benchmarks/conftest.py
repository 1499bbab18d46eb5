import gzip
import os
import struct
import sys

import numpy as np
import pytest

# The benchmarks are scripts in the repository (not in the installed
# package): make `import benchmarks` work however pytest was started.
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)


def write_idx(path, array):
    """Writes a uint8 array as an IDX file (gzipped when path ends in .gz)."""
    array = np.ascontiguousarray(array, dtype=np.uint8)
    header = struct.pack(">HBB", 0, 0x08, array.ndim)
    header += struct.pack(f">{array.ndim}I", *array.shape)
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "wb") as f:
        f.write(header + array.tobytes())


@pytest.fixture
def tiny_fashion_mnist(tmp_path):
    """A Fashion-MNIST-shaped IDX directory: 640 train and 256 test images
    whose class is readable from the image (a bright row per class)."""
    rng = np.random.default_rng(0)

    def split(n):
        y = np.arange(n) % 10
        x = rng.integers(0, 60, size=(n, 28, 28))
        x[np.arange(n), 2 * y + 4, :] = 255
        return x, y

    (x, y), (x_test, y_test) = split(640), split(256)
    write_idx(str(tmp_path / "train-images-idx3-ubyte.gz"), x)
    write_idx(str(tmp_path / "train-labels-idx1-ubyte.gz"), y)
    write_idx(str(tmp_path / "t10k-images-idx3-ubyte"), x_test)
    write_idx(str(tmp_path / "t10k-labels-idx1-ubyte"), y_test)
    return tmp_path, (x, y), (x_test, y_test)
