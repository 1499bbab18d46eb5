"""Datasets as batched, prefetching `tf.data` pipelines (TensorFlow imported lazily)."""

from keras_distill.src.data.dataset import UNLABELED
from keras_distill.src.data.dataset import Dataset
from keras_distill.src.data.dataset import label_budget
from keras_distill.src.data.dataset import make_pipeline
from keras_distill.src.data.idx import load_idx_directory
from keras_distill.src.data.idx import read_idx
from keras_distill.src.data.loaders import NAMES
from keras_distill.src.data.loaders import load

__all__ = [
    "NAMES",
    "UNLABELED",
    "Dataset",
    "label_budget",
    "load",
    "load_idx_directory",
    "make_pipeline",
    "read_idx",
]
