"""On-disk teacher caches: TFRecord shards of batches plus a JSON description.

Layout of a cache directory:

    <path>/teacher_outputs-00000.tfrecord   one record per batch, in order: a
    <path>/teacher_outputs-00001.tfrecord   tf.train.Example whose feature "i"
    ...                                     is the serialized tensor of the
                                            element's i-th leaf
    <path>/keras_distill_cache.json         format version, fingerprints,
                                            settings, element structure, sizes,
                                            and each shard's byte size, record
                                            count and SHA-256

A shard is closed once it passes a size (`shard_writer.py`), so a corpus
larger than memory streams to disk and an interrupted write resumes at its
last closed shard. Opening a cache verifies every shard against the
description (size, record count, checksum): a file cut short (an
interrupted copy, a full disk) is refused with the fix. Caches of version 2
(one `teacher_outputs.tfrecord`) are read as one shard.
"""

import hashlib
import json
import os
import struct

from keras_distill.src.utils.keras_compat import tensorflow as tf

FORMAT = "keras_distill.teacher_cache"
VERSION = 3
READABLE_VERSIONS = (2, 3)
METADATA = "keras_distill_cache.json"


def shard_name(index):
    return f"teacher_outputs-{index:05d}.tfrecord"


def encode_structure(spec):
    if isinstance(spec, dict):
        bad = [key for key in spec if not isinstance(key, str)]
        if bad:
            raise ValueError(
                f"Cannot cache dataset elements with non-string dict keys {bad}. "
                "Use string keys (tf.data and Keras expect them)."
            )
        return {"dict": {key: encode_structure(value) for key, value in spec.items()}}
    if isinstance(spec, (tuple, list)):
        return {"tuple": [encode_structure(value) for value in spec]}
    if isinstance(spec, tf.TensorSpec):
        return {"tensor": [spec.shape.as_list(), spec.dtype.name]}
    raise ValueError(
        f"Cannot cache dataset elements holding {type(spec).__name__} "
        f"({spec}). Expected dense tensors. Convert ragged or sparse "
        "inputs first, e.g. with `.to_tensor()` in a `dataset.map`."
    )


def decode_structure(encoded):
    if "dict" in encoded:
        return {key: decode_structure(value) for key, value in encoded["dict"].items()}
    if "tuple" in encoded:
        return tuple(decode_structure(value) for value in encoded["tuple"])
    shape, dtype = encoded["tensor"]
    return tf.TensorSpec(shape, tf.as_dtype(dtype))


def merge_spec(spec, element):
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
    if metadata.get("format") != FORMAT or metadata.get("version") not in READABLE_VERSIONS:
        raise ValueError(
            f"The teacher cache at {path!r} has format "
            f"{metadata.get('format')!r} version {metadata.get('version')!r}; "
            f"this keras-distill reads {FORMAT!r} version {VERSION}. Recompute "
            "it with overwrite=True."
        )
    return metadata


def serialized(element):
    features = {
        str(i): tf.train.Feature(
            bytes_list=tf.train.BytesList(value=[tf.io.serialize_tensor(leaf).numpy()])
        )
        for i, leaf in enumerate(tf.nest.flatten(element))
    }
    return tf.train.Example(features=tf.train.Features(feature=features)).SerializeToString()


def scan(file):
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


def shards(metadata):
    """The described shards: dicts of `file`, `records`, `bytes`, `sha256`."""
    if "shards" in metadata:
        return metadata["shards"]
    return [{  # Version 2: one records file.
        "file": "teacher_outputs.tfrecord",
        "records": metadata["num_batches"],
        "bytes": metadata["records_bytes"],
        "sha256": metadata["records_sha256"],
    }]


def describe_shard(path, name):
    """A closed shard's description, from one read of the file."""
    size, records, checksum = scan(os.path.join(path, name))
    return {"file": name, "records": records, "bytes": size, "sha256": checksum}


def verify(path, described):
    """Raises when a shard at `path` is not the one described.

    Args:
        path: The directory that holds the shards.
        described: Shard descriptions (`shards(metadata)`).
    """
    for shard in described:
        file = os.path.join(path, shard["file"])
        problem = None
        if not os.path.exists(file):
            problem = "is missing"
        else:
            size, records, checksum = scan(file)
            if size != shard["bytes"] or records is None:
                problem = f"has {size} bytes, expected {shard['bytes']}"
            elif records != shard["records"]:
                problem = f"holds {records} records, expected {shard['records']}"
            elif checksum != shard["sha256"]:
                problem = "does not match its SHA-256 checksum"
        if problem:
            raise ValueError(
                f"Damaged teacher cache: {file!r} {problem} (an interrupted write "
                "or copy, or a full disk). Recompute it with "
                "cache_teacher_outputs(..., overwrite=True), or use another path."
            )


def load(path, metadata):
    """The cached `tf.data.Dataset` at `path` (batches, in written order)."""
    spec = decode_structure(metadata["element_spec"])
    leaves = tf.nest.flatten(spec)
    features = {str(i): tf.io.FixedLenFeature([], tf.string) for i in range(len(leaves))}

    def parse(record):
        parsed = tf.io.parse_single_example(record, features)
        tensors = [
            tf.ensure_shape(tf.io.parse_tensor(parsed[str(i)], leaf.dtype), leaf.shape)
            for i, leaf in enumerate(leaves)
        ]
        return tf.nest.pack_sequence_as(spec, tensors)

    files = [os.path.join(path, shard["file"]) for shard in shards(metadata)]
    dataset = tf.data.TFRecordDataset(files)
    dataset = dataset.map(parse, num_parallel_calls=tf.data.AUTOTUNE)
    return dataset.apply(tf.data.experimental.assert_cardinality(metadata["num_batches"]))
