import numpy as np
import pytest
from sklearn.datasets import load_digits

from keras_distill import datasets


@pytest.fixture(scope="module")
def digits():
    return datasets.load("digits", batch_size=64, seed=3)


def test_digits_fixed_split_and_values(digits):
    assert (digits.num_train, digits.num_test) == (1437, 360)
    assert (digits.input_shape, digits.num_classes) == ((8, 8, 1), 10)
    x, y = digits.arrays("test")
    reference = load_digits()
    order = np.random.default_rng(0).permutation(1797)[:360]
    np.testing.assert_allclose(x[..., 0], reference.images[order] / 16.0, rtol=1e-6)
    np.testing.assert_array_equal(y, reference.target[order])


def test_train_pipeline_is_batched_and_reshuffled(digits):
    train = digits.train  # fit() iterates one pipeline once per epoch.
    first = [y for _, y in train.as_numpy_iterator()]
    second = [y for _, y in train.as_numpy_iterator()]
    assert [len(y) for y in first] == [64] * 22 + [29]
    assert not np.array_equal(np.concatenate(first), np.concatenate(second))
    np.testing.assert_array_equal(
        np.sort(np.concatenate(first)), np.sort(np.concatenate(second))
    )


def test_label_budget_hides_all_but_the_chosen_labels(digits):
    labeled, mixed = datasets.label_budget(digits.train_examples, 1437, 25, seed=7)
    _, true_labels = digits.arrays("train")
    mixed_labels = np.array([y for _, y in mixed.as_numpy_iterator()])
    kept = mixed_labels != datasets.UNLABELED
    assert kept.sum() == 25
    np.testing.assert_array_equal(mixed_labels[kept], true_labels[kept])
    labeled_labels = np.array([y for _, y in labeled.as_numpy_iterator()])
    np.testing.assert_array_equal(labeled_labels, true_labels[kept])
    _, again = datasets.label_budget(digits.train_examples, 1437, 25, seed=7)
    np.testing.assert_array_equal(
        [y for _, y in again.as_numpy_iterator()], mixed_labels
    )


@pytest.mark.parametrize("num_labeled", [0, 1438, 2.5])
def test_label_budget_rejects_impossible_sizes(digits, num_labeled):
    with pytest.raises(ValueError, match="num_labeled"):
        datasets.label_budget(digits.train_examples, 1437, num_labeled)


def test_repeated_pipeline_keeps_going(digits):
    labeled, _ = datasets.label_budget(digits.train_examples, 1437, 10)
    labels = np.array([y for _, y in labeled.as_numpy_iterator()])
    batches = list(digits.pipeline(labeled, shuffle=True, repeat=True).take(3))
    assert [len(y) for _, y in batches] == [64, 64, 64]
    seen = np.concatenate([y for _, y in batches])
    for epoch in range(19):  # each pass over the 10 examples is a permutation
        np.testing.assert_array_equal(np.sort(seen[10 * epoch : 10 * epoch + 10]), np.sort(labels))


def test_unknown_dataset_lists_the_valid_names():
    with pytest.raises(ValueError, match=r"Received: dataset='cifar'.*tfds:NAME"):
        datasets.load("cifar")
