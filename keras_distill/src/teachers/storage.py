"""On-disk teacher caches: one TFRecord of batches plus a JSON description.

Layout of a cache directory:

    <path>/teacher_outputs.tfrecord   one record per batch: a tf.train.Example
                                      whose feature "i" is the serialized
                                      tensor of the element's i-th leaf
    <path>/keras_distill_cache.json   format version, fingerprints, settings,
                                      element structure, sizes

The JSON file is written last, so an interrupted run leaves no valid cache.
"""

import json
import os

from keras.src.utils.module_utils import tensorflow as tf

FORMAT = "keras_distill.teacher_cache"
VERSION = 1
RECORDS = "teacher_outputs.tfrecord"
METADATA = "keras_distill_cache.json"


def _encode_structure(spec):
    if isinstance(spec, dict):
        bad = [key for key in spec if not isinstance(key, str)]
        if bad:
            raise ValueError(
                f"Cannot cache dataset elements with non-string dict keys {bad}. "
                "Use string keys (tf.data and Keras expect them)."
            )
        return {"dict": {key: _encode_structure(value) for key, value in spec.items()}}
    if isinstance(spec, (tuple, list)):
        return {"tuple": [_encode_structure(value) for value in spec]}
    if isinstance(spec, tf.TensorSpec):
        return {"tensor": [spec.shape.as_list(), spec.dtype.name]}
    raise ValueError(
        f"Cannot cache dataset elements holding {type(spec).__name__} "
        f"({spec}). Expected dense tensors. Convert ragged or sparse "
        "inputs first, e.g. with `.to_tensor()` in a `dataset.map`."
    )


def _decode_structure(encoded):
    if "dict" in encoded:
        return {key: _decode_structure(value) for key, value in encoded["dict"].items()}
    if "tuple" in encoded:
        return tuple(_decode_structure(value) for value in encoded["tuple"])
    shape, dtype = encoded["tensor"]
    return tf.TensorSpec(shape, tf.as_dtype(dtype))


def _merge_spec(spec, element):
    """The most specific spec compatible with both (differing dims -> None)."""
    def merge(old, value):
        new = tf.TensorSpec(value.shape, tf.as_dtype(value.dtype))
        if old is None:
            return tf.TensorSpec([None, *new.shape[1:]], new.dtype)
        return tf.TensorSpec(old.shape.most_specific_compatible_shape(new.shape), old.dtype)

    if spec is None:
        return tf.nest.map_structure(lambda value: merge(None, value), element)
    return tf.nest.map_structure(merge, spec, element)


def read_metadata(path):
    """The cache description at `path`, or None when there is no cache."""
    file = os.path.join(path, METADATA)
    if not os.path.exists(file):
        if os.path.isdir(path) and os.listdir(path):
            raise ValueError(
                f"Invalid value for argument `path`. Received: path={path!r}, "
                "a non-empty directory without a keras-distill teacher cache "
                f"({METADATA}). Expected a new or empty directory, or one "
                "written by cache_teacher_outputs. Choose another path."
            )
        return None
    with open(file) as handle:
        metadata = json.load(handle)
    if metadata.get("format") != FORMAT or metadata.get("version") != VERSION:
        raise ValueError(
            f"The teacher cache at {path!r} has format "
            f"{metadata.get('format')!r} version {metadata.get('version')!r}; "
            f"this keras-distill reads {FORMAT!r} version {VERSION}. Recompute "
            "it with overwrite=True."
        )
    return metadata


def write_records(path, elements):
    """Streams `elements` (NumPy structures) to `path`.

    Returns:
        A dict with `num_batches` and `element_spec` for the metadata.
    """
    os.makedirs(path, exist_ok=True)
    for name in (METADATA, RECORDS):
        if os.path.exists(os.path.join(path, name)):
            os.remove(os.path.join(path, name))
    records = os.path.join(path, RECORDS)
    spec, count = None, 0
    with tf.io.TFRecordWriter(records + ".partial") as writer:
        for element in elements:
            spec = _merge_spec(spec, element)
            features = {
                str(i): tf.train.Feature(
                    bytes_list=tf.train.BytesList(
                        value=[tf.io.serialize_tensor(leaf).numpy()]
                    )
                )
                for i, leaf in enumerate(tf.nest.flatten(element))
            }
            example = tf.train.Example(features=tf.train.Features(feature=features))
            writer.write(example.SerializeToString())
            count += 1
    os.replace(records + ".partial", records)
    return {"num_batches": count, "element_spec": _encode_structure(spec)}


def write_metadata(path, metadata):
    """Writes the description last: its presence marks a complete cache."""
    metadata = dict(metadata, format=FORMAT, version=VERSION)
    with open(os.path.join(path, METADATA), "w") as handle:
        json.dump(metadata, handle, indent=2, sort_keys=True)
    return metadata


def load(path, metadata):
    """The cached `tf.data.Dataset` at `path` (batches, in written order)."""
    spec = _decode_structure(metadata["element_spec"])
    leaves = tf.nest.flatten(spec)
    features = {str(i): tf.io.FixedLenFeature([], tf.string) for i in range(len(leaves))}

    def parse(record):
        parsed = tf.io.parse_single_example(record, features)
        tensors = [
            tf.ensure_shape(tf.io.parse_tensor(parsed[str(i)], leaf.dtype), leaf.shape)
            for i, leaf in enumerate(leaves)
        ]
        return tf.nest.pack_sequence_as(spec, tensors)

    dataset = tf.data.TFRecordDataset(os.path.join(path, RECORDS))
    dataset = dataset.map(parse, num_parallel_calls=tf.data.AUTOTUNE)
    return dataset.apply(tf.data.experimental.assert_cardinality(metadata["num_batches"]))
