"""Keras internals that keras-distill uses, each with why there is no public
alternative.

A Keras release that removes one raises an error naming the Keras version
instead of silently changing what the Distiller computes.

- The layer graph of Functional and Sequential models: Keras has no public
  API to walk a model's graph node by node or to re-run it with some layer
  calls replaced; `keras.models.clone_model` does the latter with the
  private `Functional._run_through_graph`, and so do we.
- `get_keras_mask`: the Keras mask a layer attached to a tensor (public as
  an attribute only, `tensor._keras_mask`, which JAX tracers do not keep).
- `scale_loss_for_distribution` / `unscale_loss_for_distribution`: how
  Keras's own `compute_loss` divides a loss by the replicas in sync.
- `tensorflow`: Keras's lazy module for TensorFlow (`tensorflow.available`
  says whether it is installed, without importing it), so that `tf.data`
  inputs are recognised on every backend.
- `get_input_signature` (export): the input signature Keras's own
  `model.export` derives; `print_msg` (callbacks): Keras's printing that
  follows `keras.utils.disable_interactive_logging`.
- Model state the Distiller reads or shares with Keras's trainer:
  `all_layers`, `loss_tracker`, `compile_metrics`, `distribute_strategy`,
  `untrack`, `set_initial_epoch`, and on JAX `detached_value`,
  `set_detached_value`, `attach_jax_state` (below, each with its reason).
- TensorFlow internals read the same way: `dataset_inputs` and
  `dataset_functions` (the graph of a `tf.data` pipeline) and
  `in_multi_worker_mode` (a `MultiWorkerMirroredStrategy` with one worker
  runs like a single device).

Two private Keras methods are overridden rather than called, so they are not
here: `Model._lock_state` (the Distiller adds metric state in `compile`, as
Functional models may) and `Trainer._maybe_symbolic_build` (a workaround for
keras-team/keras#20585, in `distiller/distiller.py`).
"""

import re
from importlib import metadata

import keras


def supported_keras():
    """The Keras versions this keras-distill is tested with, e.g.
    `"keras<3.16,>=3.12"` (from the installed package's requirements)."""
    try:
        requirements = metadata.requires("keras-distill") or []
    except metadata.PackageNotFoundError:
        return "the Keras range of keras-distill's setup.cfg"
    for requirement in requirements:
        requirement = requirement.replace(" ", "")
        if re.match(r"keras[<>=!~]", requirement) and ";" not in requirement:
            return requirement
    return "the Keras range of keras-distill's setup.cfg"


def _unsupported(what):
    return RuntimeError(
        f"keras-distill uses {what}, and Keras {keras.__version__} (with "
        f"{keras.backend.backend()}) has none. Install a supported Keras: "
        f"pip install '{supported_keras()}'."
    )


try:
    from keras.src.backend.common.masking import get_keras_mask  # noqa: F401
    from keras.src.export.export_utils import get_input_signature  # noqa: F401
    from keras.src.losses.loss import scale_loss_for_distribution  # noqa: F401
    from keras.src.losses.loss import unscale_loss_for_distribution  # noqa: F401
    from keras.src.utils.io_utils import print_msg  # noqa: F401
    from keras.src.utils.module_utils import tensorflow  # noqa: F401
except ImportError as error:
    raise _unsupported(f"the Keras internal `{error.name}`") from error


def _missing(attribute, owner):
    return _unsupported(f"`{attribute}` of {owner}")


def graph_of(model):
    """The Functional graph of a Functional or Sequential model, else None.

    A built Sequential model runs through a Functional model of its layers,
    `Sequential._functional` (no public accessor); an unbuilt one has none.
    """
    if isinstance(model, keras.Sequential):
        return getattr(model, "_functional", None)
    if isinstance(model, keras.Model) and hasattr(model, "_run_through_graph"):
        return model
    return None


def nodes(graph):
    """Every call node of the graph (`node.operation`, `node.outputs`),
    input nodes left out. `Functional._nodes_by_depth` is private: Keras
    offers the layers (`model.layers`) but not how often each is called."""
    if not hasattr(graph, "_nodes_by_depth"):
        raise _missing("_nodes_by_depth", f"the Functional model '{graph.name}'")
    return [
        node
        for depth_nodes in graph._nodes_by_depth.values()
        for node in depth_nodes
        if node.operation is not None and not node.is_input
    ]


def output_layers(graph):
    """`[(layer, output tensor)]` for each output tensor of the graph."""
    outputs = {id(tensor): tensor for tensor in keras.tree.flatten(graph.outputs)}
    found = []
    for node in nodes(graph):
        for tensor in node.outputs:
            if id(tensor) in outputs:
                found.append((node.operation, outputs.pop(id(tensor))))
    return found


def run_through_graph(graph, inputs, call_fn):
    """Re-runs the graph symbolically on `inputs`, calling each layer through
    `call_fn(layer, *args, **kwargs)` (as `keras.models.clone_model` does with
    the same private method), and returns the outputs."""
    if not hasattr(graph, "_run_through_graph"):
        raise _missing("_run_through_graph", f"the Functional model '{graph.name}'")
    return graph._run_through_graph(inputs, operation_fn=lambda op: op, call_fn=call_fn)


def _attribute(owner, name):
    try:
        return getattr(owner, name)
    except AttributeError:
        raise _missing(name, f"a {type(owner).__name__}") from None


def all_layers(model):
    """The model and every layer inside it, nested ones included. Keras
    lists only the top-level layers publicly (`model.layers`)."""
    return [model, *_attribute(model, "_flatten_layers")()]


def loss_tracker(model):
    """The `keras.metrics.Mean` whose result Keras logs as `loss`; a model
    that overrides `compute_loss` feeds it itself (no public accessor)."""
    return _attribute(model, "_loss_tracker")


def compile_metrics(model):
    """The `metrics=` of `compile` as one Keras metric (None before), which a
    model with its own `train_step` updates itself."""
    return _attribute(model, "_compile_metrics")


def distribute_strategy(model):
    """The `tf.distribute` strategy the model was built under, or None.
    `model.distribute_strategy` is public but falls back to the default
    strategy, which cannot tell "built under a scope" from "not". Only the
    TensorFlow trainer has one."""
    if keras.backend.backend() != "tensorflow":
        return None
    return _attribute(model, "_distribute_strategy")


def untrack(layer, value):
    """Stops `layer` from tracking `value` (a variable, a metric or a layer),
    so that state replaced by a second `compile` is neither listed nor saved.
    Keras has no public way to remove tracked state."""
    if isinstance(value, keras.Variable):
        _attribute(layer, "_untrack_variable")(value)
    else:
        _attribute(layer, "_tracker").untrack(value)


def set_initial_epoch(model, epoch):
    """The epoch `fit` resumes at, as Keras's own `BackupAndRestore` sets it
    (`fit(initial_epoch=...)` cannot be set from a callback)."""
    _attribute(model, "_initial_epoch")
    model._initial_epoch = epoch


def detached_value(variable):
    """On JAX, a variable's own value while `fit` keeps the values in its
    state: None, unless it was assigned since (Keras sets a detached
    variable's value to None). `variable.value` would read the state."""
    return _attribute(variable, "_value")


def set_detached_value(variable, value):
    """Sets what `detached_value` reads (None detaches it again)."""
    _attribute(variable, "_value")
    variable._value = value


def attach_jax_state(model, state):
    """Writes a JAX train state `(trainable, non_trainable, optimizer,
    metrics)` into the model's variables, as Keras does at the end of `fit`
    (`jax_state_sync` reads `model._jax_state`)."""
    names = (
        "trainable_variables",
        "non_trainable_variables",
        "optimizer_variables",
        "metrics_variables",
    )
    _attribute(model, "jax_state_sync")
    model._jax_state = dict(zip(names, state))
    model._jax_state_synced = False
    model.jax_state_sync()


def dataset_inputs(dataset):
    """The `tf.data` datasets this one is built from (`_inputs()`: tf.data
    has no public graph walk)."""
    return _attribute(dataset, "_inputs")()


def dataset_functions(dataset):
    """The traced functions of a `tf.data` transformation (`_functions()`)."""
    return _attribute(dataset, "_functions")()


def in_multi_worker_mode(strategy):
    """Whether a `MultiWorkerMirroredStrategy` spans several workers
    (`extended._in_multi_worker_mode()`; no public equivalent)."""
    return _attribute(strategy.extended, "_in_multi_worker_mode")()
