"""Cross-fitted teacher logits: each training image scored by a teacher that never saw it.

A teacher fits its own training images (97.5% training accuracy, mean top
probability 0.98), so its logits of them are nearly one-hot and say little
beyond the label. Cross-fitting splits the training images into `folds`;
teacher `k` (the benchmark's CNN, epochs, schedule and seed) trains on the
other folds and gives the logits of fold `k`. Every image then has logits
from a teacher that never trained on it, as the teacher's logits of new
images are. Images outside the training set (`others`, e.g. a validation
split) get the mean of the fold teachers' logits: none of them saw those.

The fold teachers are cached beside the benchmark's teacher (key suffix
`_fold{k}of{folds}`); `folds=1` is the plain teacher's logits of its own
training images.
"""

import numpy as np

from benchmarks import accuracy


def fold_indices(count, folds):
    """`folds` disjoint sorted index arrays covering `range(count)`, drawn with seed 1."""
    if not isinstance(folds, int) or folds < 2 or folds > count:
        raise ValueError(
            f"Invalid value for argument `folds`. Received: folds={folds!r}. Expected an "
            f"integer from 2 to the number of training images ({count})."
        )
    order = np.random.default_rng(1).permutation(count)
    return [np.sort(part) for part in np.array_split(order, folds)]


def out_of_fold_logits(args, x, y, folds, others=()):
    """`(logits of x, [logits of each array in others])`: each image of `x`
    scored by the teacher trained without its fold, each of `others` by the
    mean of the fold teachers."""
    logits = np.zeros((len(x), accuracy.common.NUM_CLASSES), "float32")
    other_logits = [np.zeros((len(images), logits.shape[1]), "float32") for images in others]
    for k, held_out in enumerate(fold_indices(len(x), folds)):
        kept = np.setdiff1d(np.arange(len(x)), held_out)
        teacher, _, _, _ = accuracy.get_teacher(
            args, x[kept], y[kept], x[held_out], y[held_out],
            key_suffix=f"_fold{k}of{folds}")
        logits[held_out] = teacher.predict(x[held_out], batch_size=1024, verbose=0)
        for total, images in zip(other_logits, others):
            total += teacher.predict(images, batch_size=1024, verbose=0) / folds
    return logits, other_logits
