import pytest

from keras_distill.src.utils import validation


def test_check_count_takes_integers_from_low_and_none_only_when_optional():
    assert validation.check_count(1, "batch_size") == 1
    assert validation.check_count(0, "seed", low=0, optional=True) == 0
    assert validation.check_count(None, "top_k", optional=True) is None
    for value in (0, 2.0, True, None, "8"):
        with pytest.raises(ValueError, match=r"`batch_size`.*an integer >= 1"):
            validation.check_count(value, "batch_size")
    with pytest.raises(ValueError, match=r"None or an integer >= 1 \(bytes\)"):
        validation.check_count(0, "shard_bytes", optional=True, unit="bytes")
