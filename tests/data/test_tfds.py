import numpy as np
import pytest
import tensorflow_datasets as tfds

from keras_distill import datasets


@pytest.mark.parametrize(
    "name, input_shape", [("tfds:mnist", (28, 28, 1)), ("tfds:cifar10", (32, 32, 3))]
)
def test_tfds_name_loads_batched_pipelines(name, input_shape):
    with tfds.testing.mock_data(num_examples=12):
        data = datasets.load(name, batch_size=5)
        batches = list(data.train.as_numpy_iterator())
    assert (data.num_train, data.num_test, data.num_classes) == (12, 12, 10)
    assert data.input_shape == input_shape
    assert data.source == "tensorflow_datasets"
    assert [x.shape for x, _ in batches] == [(5, *input_shape)] * 2 + [(2, *input_shape)]
    x = np.concatenate([x for x, _ in batches])
    y = np.concatenate([y for _, y in batches])
    assert x.dtype == np.float32 and x.min() >= 0.0 and x.max() <= 1.0
    assert y.dtype == np.int32 and set(y) <= set(range(10))


def test_fashion_mnist_falls_back_to_tfds_without_idx_files(tmp_path):
    with tfds.testing.mock_data(num_examples=6):
        data = datasets.load("fashion_mnist", data_dir=str(tmp_path), batch_size=4)
        x, _ = data.arrays("test")
    assert data.source == "tensorflow_datasets"
    assert x.shape == (6, 28, 28, 1)


def test_unknown_tfds_name_is_a_one_line_value_error():
    with pytest.raises(ValueError, match="Received: dataset='tfds:no_such_dataset_xyz'"):
        datasets.load("tfds:no_such_dataset_xyz")


def test_images_of_varying_size_are_refused():
    with tfds.testing.mock_data(num_examples=2), pytest.raises(
        ValueError, match="inputs of one fixed shape"
    ):
        datasets.load("tfds:cats_vs_dogs")


def test_offline_without_idx_files_says_how_to_get_them(tmp_path, monkeypatch):
    from keras_distill.src.data import loaders

    def offline(*args, **kwargs):
        raise ConnectionError("Failed to resolve 'storage.googleapis.com'\nretrying")

    monkeypatch.setattr(loaders, "IDX_DIRECTORIES", {"fashion_mnist": (str(tmp_path),)})
    monkeypatch.setattr(tfds, "load", offline)
    with pytest.raises(ValueError) as error:
        datasets.load("fashion_mnist")
    assert str(error.value) == (
        "Could not load dataset 'fashion_mnist' with tensorflow_datasets: Failed to resolve "
        f"'storage.googleapis.com'. No IDX files were found in {tmp_path}. Install Debian's "
        "dataset-fashion-mnist, or pass --data-dir with the four IDX files "
        "(train-images-idx3-ubyte.gz, ...)."
    )
