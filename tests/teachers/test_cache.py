"""Cached teacher outputs: same losses and weights as online KD; stale caches refused."""

import json
import os

import keras
import numpy as np
import pytest
import tensorflow as tf

import keras_distill as kd
from tests.distiller import helpers as h


def distill(data, teacher, epochs=2, **compile_kwargs):
    """Fits a fresh student (same seed each time); returns (losses, weights)."""
    student = h.mlp(3, "student", seed=2)
    distiller = kd.Distiller(teacher=teacher, student=student)
    compile_kwargs = {"student_loss_fn": h.sparse_ce(), "temperature": 2.0, **compile_kwargs}
    distiller.compile(optimizer=keras.optimizers.SGD(0.1), alpha=0.3, **compile_kwargs)
    history = distiller.fit(data, epochs=epochs, verbose=0).history
    return history["loss"], student.get_weights()


def assert_same_training(online, cached):
    np.testing.assert_allclose(cached[0], online[0], rtol=1e-6)
    for got, expected in zip(cached[1], online[1]):
        np.testing.assert_allclose(got, expected, atol=1e-6)


def dataset(n=40, sample_weight=False, labels=True, batch_size=16, seed=0):
    x, y = h.data(n, seed=seed)
    if not labels:
        return tf.data.Dataset.from_tensor_slices(x).batch(batch_size)
    parts = (x, y, np.linspace(0.0, 1.0, n).astype("float32")) if sample_weight else (x, y)
    return tf.data.Dataset.from_tensor_slices(parts).batch(batch_size)


def test_cached_kd_matches_online_kd_in_memory_with_sample_weights():
    teacher = h.mlp(16, "teacher", seed=1)
    data = dataset(sample_weight=True)
    online = distill(data, teacher)
    cached = kd.cache_teacher_outputs(teacher, data, verbose=0)
    assert_same_training(online, distill(cached, None))
    # With the (same) teacher given, the cache is still used and accepted.
    assert_same_training(online, distill(cached, teacher))


def test_cached_kd_matches_online_kd_from_disk_without_labels(tmp_path):
    teacher = h.mlp(16, "teacher", seed=1)
    data = dataset(labels=False)
    online = distill(data, teacher, student_loss_fn=None)
    cached = kd.cache_teacher_outputs(teacher, data, path=tmp_path / "cache", verbose=0)
    assert_same_training(online, distill(cached, None, student_loss_fn=None))
    metadata = json.loads((tmp_path / "cache" / "keras_distill_cache.json").read_text())
    assert metadata["num_batches"] == 3 and metadata["num_examples"] == 40
    assert metadata["teacher_bytes_per_example"] == 4 * h.NUM_CLASSES


def test_cached_probability_ensemble_matches_online_at_a_scheduled_temperature():
    teachers = [h.mlp(16, "t1", seed=1), h.mlp(8, "t2", seed=3)]
    data = dataset()
    schedule = keras.optimizers.schedules.PolynomialDecay(4.0, 5, end_learning_rate=1.0)
    online = distill(data, teachers, temperature=schedule)
    cached = kd.cache_teacher_outputs(teachers, data, verbose=0)
    assert_same_training(online, distill(cached, None, temperature=schedule))


def test_arrays_are_batched_in_order_and_shuffling_the_cache_keeps_pairs():
    teacher = h.mlp(16, "teacher", seed=1)
    x, y = h.data(20)
    cached = kd.cache_teacher_outputs(teacher, (x, y), batch_size=8, verbose=0)
    batches = list(cached.unbatch().shuffle(20, seed=0).batch(20))
    inputs, labels = batches[0][0]["__inputs__"], batches[0][1]
    np.testing.assert_allclose(batches[0][0]["__teacher_outputs__"], teacher(inputs), atol=1e-6)
    np.testing.assert_array_equal(np.sort(labels), np.sort(y))


def test_teacher_none_needs_a_cached_batch():
    distiller = kd.Distiller(teacher=None, student=h.mlp(3, "student"))
    distiller.compile(optimizer="sgd", student_loss_fn=h.sparse_ce())
    with pytest.raises(ValueError, match=r"no teacher \(teacher=None\).*cache_teacher_outputs"):
        distiller.fit(dataset(), epochs=1, verbose=0)


def test_every_fit_refuses_a_cache_from_other_teacher_weights_before_any_step():
    teacher = h.mlp(16, "teacher", seed=1)
    cached = kd.cache_teacher_outputs(teacher, dataset(), verbose=0)
    student = h.mlp(3, "student", seed=2)
    distiller = kd.Distiller(teacher=teacher, student=student)
    distiller.compile(optimizer=keras.optimizers.SGD(0.1), student_loss_fn=h.sparse_ce())
    distiller.fit(cached, epochs=1, verbose=0)  # The cache matches the teacher.
    teacher.layers[-1].bias.assign(np.ones(h.NUM_CLASSES))
    before = student.get_weights()
    # The second fit of the same Distiller (its step already traced) checks too.
    with pytest.raises(ValueError, match="Stale teacher cache"):
        distiller.fit(cached, epochs=1, verbose=0)
    with pytest.raises(ValueError, match="Stale teacher cache"):
        distiller.fit(cached.shuffle(8).repeat(2), epochs=1, verbose=0)
    for got, expected in zip(student.get_weights(), before):
        np.testing.assert_array_equal(got, expected)


def test_disk_cache_reloads_and_refuses_a_stale_teacher_or_dataset(tmp_path):
    teacher = h.mlp(16, "teacher", seed=1)
    path = str(tmp_path / "cache")
    first = kd.cache_teacher_outputs(teacher, dataset(), path=path, top_k=2, verbose=0)
    again = kd.cache_teacher_outputs(teacher, dataset(), path=path, top_k=2, verbose=0)
    for a, b in zip(first, again):
        np.testing.assert_array_equal(a[0]["__teacher_outputs__"]["top_k_logits"],
                                      b[0]["__teacher_outputs__"]["top_k_logits"])
    with pytest.raises(ValueError, match="number of batches is 3 but the current one is 2"):
        kd.cache_teacher_outputs(teacher, dataset(n=30), path=path, top_k=2)
    with pytest.raises(ValueError, match="first batch digest"):
        kd.cache_teacher_outputs(teacher, dataset(seed=5), path=path, top_k=2)
    with pytest.raises(ValueError, match="settings"):
        kd.cache_teacher_outputs(teacher, dataset(), path=path, top_k=3)
    teacher.layers[-1].bias.assign(np.ones(h.NUM_CLASSES))
    with pytest.raises(ValueError, match="teacher fingerprint.*weights changed"):
        kd.cache_teacher_outputs(teacher, dataset(), path=path, top_k=2)
    kd.cache_teacher_outputs(teacher, dataset(), path=path, top_k=2, overwrite=True, verbose=0)
    os.remove(os.path.join(path, "keras_distill_cache.json"))
    with pytest.raises(ValueError, match="without a keras-distill teacher cache"):
        kd.cache_teacher_outputs(teacher, dataset(), path=path)


def test_random_augmentation_is_refused_and_shuffling_warns():
    teacher = h.mlp(16, "teacher", seed=1)
    augmented = dataset().map(lambda x, y: (x + tf.random.normal(tf.shape(x)), y))
    with pytest.raises(ValueError, match=r"random ops \[.*RandomStandardNormal"):
        kd.cache_teacher_outputs(teacher, augmented)
    kd.cache_teacher_outputs(teacher, augmented, allow_random=True, verbose=0)
    x, y = h.data(40)
    shuffled = tf.data.Dataset.from_tensor_slices((x, y)).shuffle(40).batch(16)
    with pytest.warns(UserWarning, match="shuffles before caching"):
        kd.cache_teacher_outputs(teacher, shuffled, verbose=0)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"top_k": 0}, "`top_k`"),
        ({"top_k": h.NUM_CLASSES}, "`top_k`.*number of classes"),
        ({"top_k_fill": "zero"}, "`top_k_fill`"),
        ({"dtype": "int8"}, "`dtype`"),
    ],
)
def test_invalid_cache_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        kd.cache_teacher_outputs(h.mlp(4, "teacher"), dataset(), verbose=0, **kwargs)


def test_infinite_or_unknown_data_is_refused():
    with pytest.raises(ValueError, match=r"finite dataset.*repeat"):
        kd.cache_teacher_outputs(h.mlp(4, "teacher"), dataset().repeat())
    with pytest.raises(ValueError, match=r"`dataset`.*batched tf.data.Dataset"):
        kd.cache_teacher_outputs(h.mlp(4, "teacher"), "train.tfrecord")


def test_a_cache_cut_short_is_refused_with_the_fix(tmp_path):
    teacher = h.mlp(16, "teacher", seed=1)
    path = str(tmp_path / "cache")
    kd.cache_teacher_outputs(teacher, dataset(), path=path, verbose=0)
    records = os.path.join(path, "teacher_outputs-00000.tfrecord")
    size = os.path.getsize(records)
    with open(records, "r+b") as handle:
        handle.truncate(size - 10)
    with pytest.raises(ValueError, match=r"Damaged teacher cache: "
                       r"'.*teacher_outputs-00000.tfrecord' "
                       rf"has {size - 10} bytes, expected {size}.*overwrite=True"):
        kd.cache_teacher_outputs(teacher, dataset(), path=path, verbose=0)
    # A flipped byte keeps the size but not the checksum.
    kd.cache_teacher_outputs(teacher, dataset(), path=path, overwrite=True, verbose=0)
    with open(records, "r+b") as handle:
        handle.seek(size // 2)
        byte = handle.read(1)
        handle.seek(size // 2)
        handle.write(bytes([byte[0] ^ 0xFF]))
    with pytest.raises(ValueError, match="does not match its SHA-256 checksum"):
        kd.cache_teacher_outputs(teacher, dataset(), path=path, verbose=0)
    fresh = kd.cache_teacher_outputs(teacher, dataset(), path=path, overwrite=True, verbose=0)
    assert len(list(fresh)) == 3


def test_an_interrupted_write_leaves_no_cache_that_looks_complete(tmp_path, monkeypatch):
    from keras_distill.src.teachers import storage

    teacher = h.mlp(16, "teacher", seed=1)
    path = str(tmp_path / "cache")
    kd.cache_teacher_outputs(teacher, dataset(), path=path, verbose=0)
    teacher.layers[-1].bias.assign(np.ones(h.NUM_CLASSES))
    original = storage.serialized
    written = []

    def killed_after_two_batches(element):
        if len(written) == 2:
            raise KeyboardInterrupt
        written.append(1)
        return original(element)

    monkeypatch.setattr(storage, "serialized", killed_after_two_batches)
    with pytest.raises(KeyboardInterrupt):
        kd.cache_teacher_outputs(teacher, dataset(), path=path, overwrite=True, verbose=0)
    monkeypatch.setattr(storage, "serialized", original)
    # The old cache is still whole (and stale for the new weights): refused, not
    # silently mixed with the two new batches.
    with pytest.raises(ValueError, match="teacher fingerprint"):
        kd.cache_teacher_outputs(teacher, dataset(), path=path, verbose=0)
    cached = kd.cache_teacher_outputs(teacher, dataset(), path=path, overwrite=True, verbose=0)
    online = distill(dataset(), teacher)
    assert_same_training(online, distill(cached, teacher))


def test_a_cache_with_a_damaged_record_length_is_refused(tmp_path):
    teacher = h.mlp(16, "teacher", seed=1)
    path = str(tmp_path / "cache")
    kd.cache_teacher_outputs(teacher, dataset(), path=path, verbose=0)
    with open(os.path.join(path, "teacher_outputs-00000.tfrecord"), "r+b") as handle:
        handle.write(b"\xff" * 8)  # The first record's length: 2^64 - 1.
    with pytest.raises(ValueError, match="Damaged teacher cache"):
        kd.cache_teacher_outputs(teacher, dataset(), path=path, verbose=0)


def test_train_on_batch_refuses_a_stale_cache_too():
    teacher = h.mlp(16, "teacher", seed=1)
    cached = kd.cache_teacher_outputs(teacher, dataset(), verbose=0)
    x, y = tf.nest.map_structure(np.asarray, next(iter(cached)))
    student = h.mlp(3, "student", seed=2)
    distiller = kd.Distiller(teacher=teacher, student=student)
    distiller.compile(optimizer=keras.optimizers.SGD(0.1), student_loss_fn=h.sparse_ce())
    distiller.train_on_batch(x, y)
    teacher.layers[-1].bias.assign(np.ones(h.NUM_CLASSES))
    before = student.get_weights()
    with pytest.raises(ValueError, match="Stale teacher cache"):
        distiller.train_on_batch(x, y)
    for got, expected in zip(student.get_weights(), before):
        np.testing.assert_array_equal(got, expected)
