"""On-disk teacher caches: one TFRecord of batches plus a JSON description.

Layout of a cache directory:

    <path>/teacher_outputs.tfrecord   one record per batch: a tf.train.Example
                                      whose feature "i" is the serialized
                                      tensor of the element's i-th leaf
    <path>/keras_distill_cache.json   format version, fingerprints, settings,
                                      element structure, sizes, the records
                                      file's byte size, record count and
                                      SHA-256

Writes are atomic: both files are written under `<path>.partial/`, the old
description is removed first, and each file is moved into place with
`os.replace` (the description last), so a write killed at any moment leaves
no cache that looks complete. Opening a cache verifies the records file
against its description (size, record count, checksum): a file cut short
(an interrupted copy, a full disk) is refused with the fix.
"""

import hashlib
import json
import os
import shutil
import struct

from keras_distill.src.utils.keras_compat import tensorflow as tf

FORMAT = "keras_distill.teacher_cache"
VERSION = 2
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
                "written by cache_teacher_outputs. If a write was interrupted, "
                "pass overwrite=True to write the cache again; otherwise "
                "choose another path."
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


def _serialized(element):
    features = {
        str(i): tf.train.Feature(
            bytes_list=tf.train.BytesList(value=[tf.io.serialize_tensor(leaf).numpy()])
        )
        for i, leaf in enumerate(tf.nest.flatten(element))
    }
    return tf.train.Example(features=tf.train.Features(feature=features)).SerializeToString()


def _scan(file):
    """`(size, records, sha256)` of a TFRecord file, read once; `records`
    is None when the file ends inside a record."""
    digest, records, size = hashlib.sha256(), 0, 0
    total = os.path.getsize(file)
    with open(file, "rb") as handle:
        while True:
            header = handle.read(12)  # uint64 length, uint32 CRC of it.
            digest.update(header)
            size += len(header)
            if not header:
                return size, records, digest.hexdigest()
            (length,) = struct.unpack("<Q", header[:8]) if len(header) == 12 else (total,)
            if len(header) < 12 or length + 4 > total - size:
                digest.update(handle.read())  # A damaged length: hash the rest.
                return total, None, digest.hexdigest()
            body = handle.read(length + 4)  # data, uint32 CRC of it.
            digest.update(body)
            size += len(body)
            if len(body) < length + 4:
                return size, None, digest.hexdigest()
            records += 1


def write(path, elements, describe):
    """Streams `elements` (NumPy structures) into a new cache at `path`.

    Args:
        path: The cache directory (new, empty, or holding a cache).
        elements: Iterable of NumPy structures, one per batch.
        describe: `written -> metadata`: called once every element is
            written, with `num_batches` and `element_spec`.

    Returns:
        The metadata written.
    """
    partial = os.path.normpath(path) + ".partial"
    shutil.rmtree(partial, ignore_errors=True)
    os.makedirs(partial)
    spec, count = None, 0
    try:
        with tf.io.TFRecordWriter(os.path.join(partial, RECORDS)) as writer:
            for element in elements:
                spec = _merge_spec(spec, element)
                writer.write(_serialized(element))
                count += 1
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)  # A full disk keeps nothing.
        raise
    size, records, checksum = _scan(os.path.join(partial, RECORDS))
    metadata = describe({"num_batches": count, "element_spec": _encode_structure(spec)})
    metadata = dict(
        metadata,
        format=FORMAT,
        version=VERSION,
        records_bytes=size,
        records_sha256=checksum,
    )
    with open(os.path.join(partial, METADATA), "w") as handle:
        json.dump(metadata, handle, indent=2, sort_keys=True)
    os.makedirs(path, exist_ok=True)
    if os.path.exists(os.path.join(path, METADATA)):
        os.remove(os.path.join(path, METADATA))  # First: no old cache looks whole.
    for name in (RECORDS, METADATA):
        os.replace(os.path.join(partial, name), os.path.join(path, name))
    os.rmdir(partial)
    return metadata


def verify(path, metadata):
    """Raises when the records file at `path` is not the one described."""
    file = os.path.join(path, RECORDS)
    if not os.path.exists(file):
        problem = "is missing"
    else:
        size, records, checksum = _scan(file)
        problem = None
        if size != metadata["records_bytes"] or records is None:
            problem = f"has {size} bytes, expected {metadata['records_bytes']}"
        elif records != metadata["num_batches"]:
            problem = f"holds {records} records, expected {metadata['num_batches']}"
        elif checksum != metadata["records_sha256"]:
            problem = "does not match its SHA-256 checksum"
    if problem:
        raise ValueError(
            f"Damaged teacher cache: {file!r} {problem} (an interrupted write "
            "or copy, or a full disk). Recompute it with "
            "cache_teacher_outputs(..., overwrite=True), or use another path."
        )


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
