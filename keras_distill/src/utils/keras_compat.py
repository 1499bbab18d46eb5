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
"""

import keras
from keras.src.backend.common.masking import get_keras_mask  # noqa: F401
from keras.src.losses.loss import scale_loss_for_distribution  # noqa: F401
from keras.src.losses.loss import unscale_loss_for_distribution  # noqa: F401
from keras.src.utils.module_utils import tensorflow  # noqa: F401


def _missing(attribute, owner):
    return RuntimeError(
        f"keras-distill reads `{attribute}` of {owner} to walk a model's "
        f"layer graph, and Keras {keras.__version__} has none. Install a "
        "Keras version in the range this keras-distill supports (setup.cfg)."
    )


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
