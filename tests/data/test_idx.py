import gzip

import numpy as np
import pytest

from keras_distill import datasets

_CODES = {"uint8": 0x08, "int16": 0x0B, "int32": 0x0C, "float32": 0x0D}


def write_idx(path, array, compress):
    """Writes `array` as an IDX file, big-endian, gzip-compressed or not."""
    header = bytes([0, 0, _CODES[array.dtype.name], array.ndim])
    header += np.asarray(array.shape, dtype=">u4").tobytes()
    data = header + array.astype(array.dtype.newbyteorder(">")).tobytes()
    with open(path, "wb") as file:
        file.write(gzip.compress(data) if compress else data)


def write_mnist_like(directory, num_train=12, num_test=5, seed=0):
    """The four files of an MNIST-like dataset: train gzip, test plain."""
    rng = np.random.default_rng(seed)
    arrays = {}
    for split, stem, count, compress in (("train", "train", num_train, True),
                                         ("test", "t10k", num_test, False)):
        images = rng.integers(0, 256, size=(count, 28, 28), dtype=np.uint8)
        labels = rng.integers(0, 10, size=count).astype(np.uint8)
        suffix = ".gz" if compress else ""
        write_idx(directory / f"{stem}-images-idx3-ubyte{suffix}", images, compress)
        write_idx(directory / f"{stem}-labels-idx1-ubyte{suffix}", labels, compress)
        arrays[split] = (images, labels)
    return arrays


@pytest.mark.parametrize("compress", [True, False])
@pytest.mark.parametrize("dtype", ["uint8", "int16", "int32", "float32"])
def test_read_idx_round_trips(tmp_path, compress, dtype):
    array = (np.arange(24).reshape(2, 3, 4) * 37 - 100).astype(dtype)
    if dtype == "uint8":
        array = np.arange(24, dtype=np.uint8).reshape(2, 3, 4) * 10
    path = tmp_path / "values.idx"
    write_idx(path, array, compress)
    result = datasets.read_idx(path)
    assert result.dtype == np.dtype(dtype)
    np.testing.assert_array_equal(result, array)


def test_read_idx_rejects_a_file_that_is_not_idx(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_bytes(b"hello world")
    with pytest.raises(ValueError, match="Expected an IDX file"):
        datasets.read_idx(path)


def test_read_idx_rejects_a_truncated_file(tmp_path):
    path = tmp_path / "short.idx"
    write_idx(path, np.zeros((4, 5), np.uint8), compress=False)
    path.write_bytes(path.read_bytes()[:-3])
    with pytest.raises(ValueError, match="20 bytes of data for shape"):
        datasets.read_idx(path)


def test_load_reads_fashion_mnist_from_idx_files(tmp_path):
    arrays = write_mnist_like(tmp_path)
    data = datasets.load("fashion_mnist", data_dir=str(tmp_path), batch_size=4)
    assert data.source == f"idx:{tmp_path}"
    assert (data.num_train, data.num_test, data.num_classes) == (12, 5, 10)
    assert data.input_shape == (28, 28, 1)
    batches = list(data.test.as_numpy_iterator())
    assert [len(x) for x, _ in batches] == [4, 1]
    x = np.concatenate([x for x, _ in batches])
    y = np.concatenate([y for _, y in batches])
    np.testing.assert_allclose(x[..., 0], arrays["test"][0] / 255.0, rtol=1e-6)
    np.testing.assert_array_equal(y, arrays["test"][1])
    assert x.dtype == np.float32 and y.dtype == np.int32


def test_load_idx_directory_names_the_missing_file(tmp_path):
    write_mnist_like(tmp_path)
    (tmp_path / "t10k-labels-idx1-ubyte").unlink()
    with pytest.raises(ValueError, match="t10k-labels-idx1-ubyte"):
        datasets.load_idx_directory(str(tmp_path))
