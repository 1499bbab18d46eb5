"""A classification dataset as `tf.data` pipelines, and label budgets."""

import dataclasses

import numpy as np

from keras_distill.src.utils.errors import invalid_argument

#: Label given to the examples a label budget leaves unlabeled. Pass
#: `keras.losses.SparseCategoricalCrossentropy(ignore_class=UNLABELED)` as the
#: student loss so that these examples only get the distillation terms.
UNLABELED = -1


def make_pipeline(
    examples, batch_size, scale=1.0, shuffle=False, seed=None, repeat=False
):
    """Batches unbatched `(x, y)` examples into a prefetching pipeline.

    Args:
        examples: `tf.data.Dataset` of single `(x, y)` examples.
        batch_size: Examples per batch.
        scale: Inputs are cast to float32 and divided by this (e.g. 255).
        shuffle: Reshuffle at every epoch (buffer: up to 60,000 examples).
        seed: Shuffle seed.
        repeat: Repeat forever (then give `steps_per_epoch` to `fit`).

    Returns:
        A `tf.data.Dataset` of `(x, y)` batches, x float32 and y int32.
    """
    import tensorflow as tf

    dataset = examples
    if shuffle:
        dataset = dataset.shuffle(60_000, seed=seed, reshuffle_each_iteration=True)
    if repeat:
        dataset = dataset.repeat()
    dataset = dataset.batch(batch_size)

    def normalize(x, y):
        return tf.cast(x, "float32") / scale, tf.cast(y, "int32")

    dataset = dataset.map(normalize, num_parallel_calls=tf.data.AUTOTUNE)
    return dataset.prefetch(tf.data.AUTOTUNE)


@dataclasses.dataclass(frozen=True)
class Dataset:
    """A classification dataset: train and test `tf.data` pipelines.

    `train` and `test` are batched and prefetching, with inputs as float32 in
    [0, 1] and labels as int32; `train` is reshuffled at each epoch. The raw,
    unbatched examples (`train_examples`, `test_examples`, in a fixed order)
    can be re-batched with `pipeline`, e.g. after `label_budget`.

    Example:

    ```python
    data = keras_distill.datasets.load("digits", batch_size=64)
    model.fit(data.train, validation_data=data.test, epochs=5)
    ```
    """

    name: str
    source: str
    num_classes: int
    input_shape: tuple
    num_train: int
    num_test: int
    train_examples: object
    test_examples: object
    scale: float = 1.0
    batch_size: int = 64
    seed: int = 0

    @property
    def train(self):
        """Training batches, reshuffled at each epoch."""
        return self.pipeline(self.train_examples, shuffle=True)

    @property
    def test(self):
        """Test batches, in a fixed order."""
        return self.pipeline(self.test_examples)

    def pipeline(self, examples, shuffle=False, repeat=False):
        """Batches `examples` (e.g. from `label_budget`) like `train`."""
        return make_pipeline(
            examples,
            self.batch_size,
            scale=self.scale,
            shuffle=shuffle,
            seed=self.seed,
            repeat=repeat,
        )

    def arrays(self, split="test", limit=None):
        """The first `limit` examples of a split as numpy `(x, y)` arrays."""
        if split not in ("train", "test"):
            raise invalid_argument("split", split, "'train' or 'test'")
        examples = getattr(self, f"{split}_examples")
        if limit is not None:
            examples = examples.take(limit)
        xs, ys = [], []
        for x, y in self.pipeline(examples).as_numpy_iterator():
            xs.append(x)
            ys.append(y)
        return np.concatenate(xs), np.concatenate(ys)


def label_budget(examples, num_examples, num_labeled, seed=0):
    """Keeps the labels of `num_labeled` random examples and hides the rest.

    Simulates the setting distillation is for: a few labeled examples, many
    unlabeled ones, and a teacher that can label them softly.

    Args:
        examples: `tf.data.Dataset` of unbatched `(x, y)` examples.
        num_examples: How many examples `examples` holds.
        num_labeled: How many keep their label (chosen at random).
        seed: Seed of the choice.

    Returns:
        `(labeled, mixed)`: `labeled` holds only the `num_labeled` chosen
        examples; `mixed` holds every example, with `y = UNLABELED` (-1) for
        those not chosen.
    """
    import tensorflow as tf

    if isinstance(num_labeled, bool) or not isinstance(num_labeled, int) or not (
        1 <= num_labeled <= num_examples
    ):
        raise invalid_argument(
            "num_labeled",
            num_labeled,
            f"an integer between 1 and the number of examples ({num_examples})",
        )
    chosen = np.zeros(num_examples, dtype=bool)
    chosen[np.random.default_rng(seed).permutation(num_examples)[:num_labeled]] = True
    chosen = tf.constant(chosen)
    indexed = examples.enumerate()
    labeled = indexed.filter(lambda i, example: chosen[i]).map(
        lambda i, example: example
    )
    mixed = indexed.map(
        lambda i, example: (
            example[0],
            tf.where(chosen[i], tf.cast(example[1], "int32"), UNLABELED),
        )
    )
    return labeled, mixed
