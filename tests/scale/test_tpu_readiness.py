"""The step is written so that TPUStrategy can run it.

No TPU in CI; what a TPU needs is checked on the traced step instead: no
op that calls back into Python or the host, static scalar outputs, an XLA
compile, and Python that runs once at trace time, never per step.
"""

import keras
import numpy as np
import tensorflow as tf

import keras_distill as kd

# Ops that run on the host (Python callbacks, printing, outfeed): a TPU
# step containing one would stall on a host round trip or fail to compile.
_HOST_OPS = {
    "PyFunc",
    "PyFuncStateless",
    "EagerPyFunc",
    "Print",
    "PrintV2",
    "OutfeedEnqueue",
    "OutfeedEnqueueTuple",
}


class _CountingDistiller(kd.Distiller):
    """Counts how often the Python body of the teacher's forward pass runs."""

    python_calls = 0

    def _teacher_forward(self, x):
        type(self).python_calls += 1
        return super()._teacher_forward(x)


def _distiller(cls=kd.Distiller):
    keras.utils.set_random_seed(0)
    teacher = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)])
    student = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)])
    distiller = cls(
        teacher=teacher,
        student=student,
        distillation_loss_fn=[kd.losses.KLDivergence(), "mean_squared_error"],
    )
    distiller.compile(
        optimizer="adam",
        student_loss_fn=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        alpha=keras.optimizers.schedules.PolynomialDecay(0.9, 10, 0.1),
    )
    return distiller


def _op_types(graph_def):
    types = {node.op for node in graph_def.node}
    for function in graph_def.library.function:
        types.update(node.op for node in function.node_def)
    return types


def test_train_step_has_no_host_ops_and_compiles_with_xla():
    distiller = _distiller()
    distiller.optimizer.build(distiller.trainable_variables)
    step = tf.function(distiller.train_step, jit_compile=True)
    batch = (tf.TensorSpec((8, 4), tf.float32), tf.TensorSpec((8,), tf.int32))
    concrete = step.get_concrete_function(batch)
    types = _op_types(concrete.graph.as_graph_def())
    assert "MatMul" in types  # The graph really is the step.
    assert not types & _HOST_OPS, types & _HOST_OPS
    for name, value in concrete.structured_outputs.items():
        assert value.shape == (), name  # Static scalar logs.
    # And XLA compiles and runs it (it would reject host ops).
    x = np.random.default_rng(0).normal(size=(8, 4)).astype("float32")
    logs = step((x, np.arange(8, dtype="int32") % 3))
    assert np.isfinite(logs["loss"].numpy())
    np.testing.assert_allclose(logs["alpha"].numpy(), 0.9)


def test_python_runs_at_trace_time_only_and_variables_carry_changes():
    """A changed temperature reaches the step through its variable, not
    through retracing: the Python body runs while the step is traced in
    the first epoch (twice at most: tf.function traces again when the first
    trace created variables) and never in the 4 steps after that."""
    distiller = _distiller(_CountingDistiller)

    class SetTemperature(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.model.temperature.assign(1.0 + epoch)

        def on_epoch_end(self, epoch, logs=None):
            calls.append(_CountingDistiller.python_calls)

    x = np.random.default_rng(0).normal(size=(16, 4)).astype("float32")
    y = (np.arange(16) % 3).astype("int32")
    _CountingDistiller.python_calls, calls = 0, []
    history = distiller.fit(
        x, y, batch_size=8, epochs=3, verbose=0, callbacks=[SetTemperature()]
    ).history
    assert calls[0] <= 2 and calls == [calls[0]] * 3, calls
    np.testing.assert_allclose(history["temperature"], [1.0, 2.0, 3.0])
    # The alpha schedule advanced with optimizer.iterations (steps 1, 3, 5).
    schedule = keras.optimizers.schedules.PolynomialDecay(0.9, 10, 0.1)
    np.testing.assert_allclose(
        history["alpha"], [float(schedule(step)) for step in (1, 3, 5)], rtol=1e-6
    )
