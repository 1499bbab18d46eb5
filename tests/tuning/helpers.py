"""What the KerasTuner tests share."""

import contextlib
import gc


@contextlib.contextmanager
def objects_frozen_for_gc():
    """Runs the block with the objects alive at entry frozen (`gc.freeze`).

    KerasTuner runs two full `gc.collect()` before it builds a model, for
    each trial and each time it loads one (`get_best_models`, `load_model`);
    in a test process each walks every object that TensorFlow, Keras and
    the earlier tests left alive. Frozen, those are skipped: what the block
    itself leaves behind is still collected, and on exit they are tracked
    again.
    """
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()
