"""Teacher caches on disk in shards: streamed, resumed after an interruption."""

import json
import os

import numpy as np
import pytest
import tensorflow as tf

import keras_distill as kd
from keras_distill.src.teachers import storage
from tests.backends import only_on_tensorflow
from tests.distiller import helpers as h
from tests.teachers.test_cache import assert_same_training
from tests.teachers.test_cache import dataset
from tests.teachers.test_cache import distill

pytestmark = only_on_tensorflow(
    "shards and resumes are tf.data and file I/O, the same on every backend "
    "(tests/teachers/test_cache.py runs the teacher on each): run once"
)

# One batch of 8 examples with 10 float32 logits serializes to about 1 kB:
# shards of 1 byte close after every batch.
EVERY_BATCH = 1
SERIALIZED = storage.serialized


def batches(cached):
    return [tf.nest.map_structure(np.asarray, element) for element in cached]


def assert_same_batches(got, expected):
    assert len(got) == len(expected)
    for a, b in zip(got, expected):
        tf.nest.map_structure(np.testing.assert_array_equal, a, b)


class Interrupted(Exception):
    pass


def interrupt_after(monkeypatch, count):
    """Makes the cache writer fail on its record number `count + 1`."""
    calls = []

    def serialized(element):
        if len(calls) == count:
            raise Interrupted
        calls.append(1)
        return SERIALIZED(element)

    monkeypatch.setattr(storage, "serialized", serialized)
    return calls


def write_interrupted(monkeypatch, teacher, data, path, after):
    """A write of `data`'s cache killed after `after` batches (each its own
    shard); the writer works normally again afterwards."""
    interrupt_after(monkeypatch, after)
    with pytest.raises(Interrupted):
        kd.cache_teacher_outputs(teacher, data, path=path, shard_bytes=EVERY_BATCH, verbose=0)
    interrupt_after(monkeypatch, 99)


def test_shards_hold_the_batches_in_order(tmp_path):
    teacher = h.mlp(16, "teacher", seed=1)
    data = dataset(n=40, batch_size=8)
    path = tmp_path / "cache"
    sharded = kd.cache_teacher_outputs(
        teacher, data, path=path, top_k=3, shard_bytes=EVERY_BATCH, verbose=0
    )
    metadata = json.loads((path / "keras_distill_cache.json").read_text())
    assert [shard["file"] for shard in metadata["shards"]] == [
        f"teacher_outputs-{i:05d}.tfrecord" for i in range(5)
    ]
    assert [shard["records"] for shard in metadata["shards"]] == [1] * 5
    assert metadata["num_batches"] == 5 and metadata["version"] == 3
    assert not os.path.exists(f"{path}.partial")
    in_memory = kd.cache_teacher_outputs(teacher, data, top_k=3, verbose=0)
    assert_same_batches(batches(sharded), batches(in_memory))
    reloaded = kd.cache_teacher_outputs(teacher, data, path=path, top_k=3, verbose=0)
    assert_same_batches(batches(reloaded), batches(in_memory))


def test_an_interrupted_write_continues_after_its_closed_shards(tmp_path, monkeypatch):
    teacher = h.mlp(16, "teacher", seed=1)
    data = dataset(n=40, batch_size=8)
    path = tmp_path / "cache"
    write_interrupted(monkeypatch, teacher, data, path, after=3)
    progress = json.loads((tmp_path / "cache.partial" / "progress.json").read_text())
    assert len(progress["shards"]) == 3 and progress["state"]["num_examples"] == 24
    assert not (path / "keras_distill_cache.json").exists()
    # The second run writes only the two batches not yet written.
    calls = interrupt_after(monkeypatch, 99)
    resumed = kd.cache_teacher_outputs(
        teacher, data, path=path, shard_bytes=EVERY_BATCH, verbose=0
    )
    assert len(calls) == 2
    metadata = json.loads((path / "keras_distill_cache.json").read_text())
    assert metadata["num_examples"] == 40 and len(metadata["shards"]) == 5
    in_memory = kd.cache_teacher_outputs(teacher, data, verbose=0)
    assert_same_batches(batches(resumed), batches(in_memory))
    assert_same_training(distill(data, teacher), distill(resumed, None))


def test_a_write_is_not_continued_for_other_data_or_teacher_weights(tmp_path, monkeypatch):
    teacher = h.mlp(16, "teacher", seed=1)
    path = tmp_path / "cache"
    write_interrupted(monkeypatch, teacher, dataset(batch_size=8), path, after=2)
    other_data = dataset(batch_size=8, seed=5)
    with pytest.raises(ValueError, match=r"cache.partial.*first batch digest.*overwrite=True"):
        kd.cache_teacher_outputs(teacher, other_data, path=path, verbose=0)
    # Same first batch, different second one: found at the resume point.
    x, y = (np.asarray(a) for a in h.data(40))
    x[8:16] += 1.0
    edited = tf.data.Dataset.from_tensor_slices((x, y)).batch(8)
    with pytest.raises(ValueError, match="last written batch digest"):
        kd.cache_teacher_outputs(teacher, edited, path=path, verbose=0)
    changed = h.mlp(16, "teacher", seed=3)
    with pytest.raises(ValueError, match="teacher fingerprint"):
        kd.cache_teacher_outputs(changed, dataset(batch_size=8), path=path, verbose=0)
    # overwrite=True starts again when the write cannot be continued.
    calls = interrupt_after(monkeypatch, 99)
    fresh = kd.cache_teacher_outputs(teacher, edited, path=path, overwrite=True, verbose=0)
    assert len(calls) == 5
    in_memory = kd.cache_teacher_outputs(teacher, edited, verbose=0)
    assert_same_batches(batches(fresh), batches(in_memory))


def test_a_shuffling_dataset_is_not_continued(tmp_path, monkeypatch):
    teacher = h.mlp(16, "teacher", seed=1)
    x, y = h.data(40)
    shuffled = tf.data.Dataset.from_tensor_slices((x, y)).shuffle(40, seed=1).batch(8)
    path = tmp_path / "cache"
    interrupt_after(monkeypatch, 2)
    with pytest.warns(UserWarning, match="shuffles"), pytest.raises(Interrupted):
        kd.cache_teacher_outputs(teacher, shuffled, path=path, shard_bytes=EVERY_BATCH, verbose=0)
    interrupt_after(monkeypatch, 99)
    with pytest.warns(UserWarning), pytest.raises(ValueError, match="cannot be continued"):
        kd.cache_teacher_outputs(teacher, shuffled, path=path, verbose=0)


def test_a_damaged_closed_shard_is_not_continued(tmp_path, monkeypatch):
    teacher = h.mlp(16, "teacher", seed=1)
    path = tmp_path / "cache"
    write_interrupted(monkeypatch, teacher, dataset(batch_size=8), path, after=2)
    shard = tmp_path / "cache.partial" / "teacher_outputs-00001.tfrecord"
    shard.write_bytes(shard.read_bytes()[:-3])
    with pytest.raises(ValueError, match=r"Damaged teacher cache: .*00001.tfrecord"):
        kd.cache_teacher_outputs(teacher, dataset(batch_size=8), path=path, verbose=0)


def test_a_version_2_cache_is_read_as_one_shard(tmp_path):
    teacher = h.mlp(16, "teacher", seed=1)
    path = tmp_path / "cache"
    written = batches(kd.cache_teacher_outputs(teacher, dataset(), path=path, verbose=0))
    file = path / "keras_distill_cache.json"
    metadata = json.loads(file.read_text())
    (shard,) = metadata.pop("shards")
    os.replace(path / shard["file"], path / "teacher_outputs.tfrecord")
    metadata.update(version=2, records_bytes=shard["bytes"], records_sha256=shard["sha256"])
    file.write_text(json.dumps(metadata))
    assert_same_batches(
        batches(kd.cache_teacher_outputs(teacher, dataset(), path=path, verbose=0)), written
    )


def test_shard_bytes_is_checked():
    with pytest.raises(ValueError, match=r"`shard_bytes`.*Received: shard_bytes=0"):
        kd.cache_teacher_outputs(h.mlp(4, "teacher"), dataset(), shard_bytes=0)
