"""Writes a teacher cache in shards, resumably (format: `storage.py`).

Everything is written under `<path>.partial/` first. A shard is closed once
it passes `shard_bytes`; then its description (size, record count,
SHA-256) and the writer's state so far are saved to
`<path>.partial/progress.json` (replaced atomically). A write that is killed
keeps its closed shards and their progress, and a later write of the same
cache continues after them (`read_progress`, then `write` with that
progress). When every batch is written, the description of the whole cache
is written, the old cache at `<path>` is removed (its description first, so
no mix of old and new looks complete), and the new files are moved into
`<path>` with `os.replace`, the description last.
"""

import glob
import json
import os
import shutil

from keras_distill.src.teachers import storage
from keras_distill.src.utils.keras_compat import tensorflow as tf

PROGRESS = "progress.json"
# Each TFRecord record adds a length, and a checksum of each part.
_RECORD_OVERHEAD = 16


def partial_path(path):
    return os.path.normpath(path) + ".partial"


def read_progress(path):
    """The progress of an interrupted write of the cache at `path`, or None."""
    file = os.path.join(partial_path(path), PROGRESS)
    if not os.path.exists(file):
        return None
    with open(file) as handle:
        return json.load(handle)


def new_progress(fields):
    """Progress of a write that has written nothing yet.

    Args:
        fields: What identifies the cache (fingerprints, settings), kept in
            the progress to compare before resuming.
    """
    return dict(fields, shards=[], element_spec=None, state={})


def discard(path):
    """Removes an interrupted write of the cache at `path`."""
    shutil.rmtree(partial_path(path), ignore_errors=True)


def _save(partial, progress):
    temporary = os.path.join(partial, PROGRESS + ".tmp")
    with open(temporary, "w") as handle:
        json.dump(progress, handle, indent=2, sort_keys=True)
    os.replace(temporary, os.path.join(partial, PROGRESS))


class _Shards:
    """The shard being written, closed into `progress` at its size limit."""

    def __init__(self, partial, progress, shard_bytes):
        self.partial, self.progress, self.shard_bytes = partial, progress, shard_bytes
        encoded = progress["element_spec"]
        self.spec = None if encoded is None else storage.decode_structure(encoded)
        self.writer, self.name, self.size = None, None, 0

    def write(self, element, state):
        if self.writer is None:
            self.name = storage.shard_name(len(self.progress["shards"]))
            self.writer = tf.io.TFRecordWriter(os.path.join(self.partial, self.name))
            self.size = 0
        record = storage.serialized(element)
        self.writer.write(record)
        self.spec = storage.merge_spec(self.spec, element)
        self.size += len(record) + _RECORD_OVERHEAD
        if self.size >= self.shard_bytes:
            self.close(state)

    def close(self, state):
        """Closes the open shard (if any) and saves the progress."""
        if self.writer is None:
            return
        self.writer.close()
        self.writer = None
        self.progress["shards"].append(storage.describe_shard(self.partial, self.name))
        self.progress["element_spec"] = storage.encode_structure(self.spec)
        self.progress["state"] = dict(state)
        _save(self.partial, self.progress)

    def abandon(self):
        if self.writer is not None:
            self.writer.close()  # Not in the progress: written again on resume.


def write(path, elements, progress, describe, state, shard_bytes):
    """Streams `elements` into the cache at `path`, after the shards that
    `progress` holds.

    Args:
        path: The cache directory (new, empty, or holding a cache).
        elements: Iterable of NumPy structures, one per batch, starting
            after the batches `progress` holds.
        progress: From `new_progress` or `read_progress`.
        describe: `written -> metadata`, called once every element is
            written, with `num_batches`, `element_spec` and `shards`.
        state: A JSON-serializable dict that the producer of `elements`
            keeps current; saved with each closed shard (and given back by
            `read_progress` as `progress["state"]`).
        shard_bytes: The size at which a shard is closed.

    Returns:
        The metadata written.
    """
    partial = partial_path(path)
    if not progress["shards"]:
        discard(path)
    os.makedirs(partial, exist_ok=True)
    shards = _Shards(partial, progress, shard_bytes)
    try:
        for element in elements:
            shards.write(element, state)
        shards.close(state)
    except BaseException:
        shards.abandon()
        raise
    described = progress["shards"]
    metadata = describe({
        "num_batches": sum(shard["records"] for shard in described),
        "element_spec": storage.encode_structure(shards.spec),
        "shards": described,
    })
    metadata = dict(metadata, format=storage.FORMAT, version=storage.VERSION)
    with open(os.path.join(partial, storage.METADATA), "w") as handle:
        json.dump(metadata, handle, indent=2, sort_keys=True)
    os.makedirs(path, exist_ok=True)
    if os.path.exists(os.path.join(path, storage.METADATA)):
        os.remove(os.path.join(path, storage.METADATA))  # First: no old cache looks whole.
    for old in glob.glob(os.path.join(glob.escape(path), "teacher_outputs*.tfrecord")):
        os.remove(old)
    for name in [shard["file"] for shard in described] + [storage.METADATA]:
        os.replace(os.path.join(partial, name), os.path.join(path, name))
    discard(path)
    return metadata
