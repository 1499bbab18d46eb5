"""The public teachers API is pinned: adding or removing a name is a deliberate diff."""

import keras_distill as kd


def test_teachers_public_api():
    assert kd.teachers.__all__ == [
        "CallableTeacher",
        "Ensemble",
        "MultiTask",
        "bytes_per_position",
        "cache_teacher_outputs",
        "dense_logits",
        "fingerprint",
        "log_mixture",
        "probability_mixture",
        "top_k_logits",
    ]
    assert {"cache_teacher_outputs", "teachers"} <= set(kd.__all__)
    assert kd.cache_teacher_outputs is kd.teachers.cache_teacher_outputs
