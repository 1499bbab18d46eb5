"""Output heads that end in a softmax or a sigmoid, and the logits before them.

Most classifiers people build end in a softmax: every `keras.applications`
model by default (`classifier_activation="softmax"`), most tutorials, and
`Dense(n, activation="softmax")` heads generally. Distillation terms soften
*logits* (`softmax(z / T)`); fed probabilities instead, a teacher that is 95%
sure becomes a near-uniform target. This module finds such heads in a
Functional or Sequential model and computes what came before the activation,
from the same forward pass and the same weights:

- `Dense`, `EinsumDense` and convolution layers with `activation="softmax"`
  or `"sigmoid"`: the layer's own `call` with the identity as activation
  (`PreActivation`), then the activation applied on its own, so the model's
  outputs keep their exact values;
- an `Activation("softmax")` / `Activation("sigmoid")` or `Softmax` layer,
  or a `keras.ops.softmax` / `keras.ops.sigmoid` applied in the functional
  API: its input.

`log_softmax` heads already give valid logits and are left as they are.
"""

import keras

from keras_distill.src.utils import keras_compat

SOFTMAX = "softmax"
SIGMOID = "sigmoid"
_ACTIVATIONS = (SOFTMAX, SIGMOID)

# Layers whose `call` ends with `self.activation(...)`, so calling it with an
# identity activation gives exactly the pre-activation values.
_PRE_ACTIVATION_LAYERS = (
    keras.layers.Dense,
    keras.layers.EinsumDense,
    keras.layers.Conv1D,
    keras.layers.Conv2D,
    keras.layers.Conv3D,
    keras.layers.Conv1DTranspose,
    keras.layers.Conv2DTranspose,
    keras.layers.Conv3DTranspose,
    keras.layers.SeparableConv1D,
    keras.layers.SeparableConv2D,
    keras.layers.DepthwiseConv1D,
    keras.layers.DepthwiseConv2D,
)

# How a head's logits are reached.
INPUT = "input"  # The head is an activation layer: its input.
PRE_ACTIVATION = "pre_activation"  # Its own call without the activation.
NESTED = "nested"  # A Functional/Sequential sub-model: look inside it.


class Head:
    """A final layer of a model that ends in a softmax or a sigmoid.

    Attributes:
        layer: The layer.
        activation: `"softmax"` or `"sigmoid"`; `None` for a sub-model.
        how: `INPUT`, `PRE_ACTIVATION`, `NESTED`, or `None` when the logits
            cannot be reached (`reason` says why).
        reason: Why the logits cannot be reached, or `None`.
        output: The key of the model output it produces (a dict key or a
            list index; `None` for a model with one output).
    """

    def __init__(self, layer, activation, how, reason=None):
        self.layer = layer
        self.activation = activation
        self.how = how
        self.reason = reason
        self.output = None

    @property
    def reachable(self):
        return self.how is not None

    def describe(self):
        """E.g. `"layer 'predictions' (Dense, activation='softmax')"`."""
        kind = type(self.layer).__name__
        if self.activation is None:
            return f"layer '{self.layer.name}' ({kind})"
        return f"layer '{self.layer.name}' ({kind}, activation='{self.activation}')"


def _activation_name(function):
    name = getattr(function, "__name__", None)
    return name if name in _ACTIVATIONS else None


def _softmax_axis_head(layer, output_rank):
    axes = layer.axis if isinstance(layer.axis, (list, tuple)) else [layer.axis]
    if output_rank is not None and [a % output_rank for a in axes] != [output_rank - 1]:
        return Head(
            layer, SOFTMAX, None,
            f"its softmax is over axis {layer.axis}, not the last (class) axis",
        )
    return Head(layer, SOFTMAX, INPUT)


def _head_of(layer, output_rank):
    """The `Head` of a final layer, or None when it ends in neither."""
    if keras_compat.graph_of(layer) is not None:
        return Head(layer, None, NESTED) if find_heads(layer) else None
    if not isinstance(layer, keras.layers.Layer):
        # A `keras.ops` function called on symbolic tensors: an Operation
        # named for the function (`keras.ops.softmax` -> `Softmax`).
        activation = type(layer).__name__.lower()
        if activation == SOFTMAX:
            return _softmax_axis_head(layer, output_rank)
        return Head(layer, SIGMOID, INPUT) if activation == SIGMOID else None
    if isinstance(layer, keras.layers.Softmax):
        return _softmax_axis_head(layer, output_rank)
    activation = _activation_name(getattr(layer, "activation", None))
    if activation is None:
        return None
    if isinstance(layer, keras.layers.Activation):
        return Head(layer, activation, INPUT)
    if not isinstance(layer, _PRE_ACTIVATION_LAYERS):
        return Head(
            layer, activation, None,
            f"keras-distill cannot call a {type(layer).__name__} without its "
            "activation",
        )
    if getattr(layer, "quantization_mode", None):
        return Head(layer, activation, None, "it is quantized")
    if getattr(layer, "activity_regularizer", None) is not None:
        return Head(
            layer, activation, None,
            "its activity regularizer applies to the probabilities",
        )
    return Head(layer, activation, PRE_ACTIVATION)


def find_heads(model):
    """`{layer name: Head}` for the layers producing `model`'s outputs that
    end in a softmax or a sigmoid (searching nested sub-models).

    Returns `{}` for a model without such heads, and for models without a
    graph of layers (subclassed models, layers, callables), whose outputs
    cannot be inspected before they run.
    """
    graph = keras_compat.graph_of(model)
    if graph is None:
        return {}
    structure = graph.output
    if isinstance(structure, dict):
        keys = {id(tensor): key for key, tensor in structure.items()}
    elif isinstance(structure, (list, tuple)) and len(structure) > 1:
        keys = {id(tensor): index for index, tensor in enumerate(structure)}
    else:
        keys = {}
    heads = {}
    for layer, output in keras_compat.output_layers(graph):
        head = _head_of(layer, len(output.shape))
        if head is not None:
            head.output = keys.get(id(output))
            heads[layer.name] = head
    return heads


def unreachable(heads):
    """The heads whose logits cannot be reached (searching sub-models)."""
    found = []
    for head in heads.values():
        if head.how == NESTED:
            found.extend(unreachable(find_heads(head.layer)))
        elif not head.reachable:
            found.append(head)
    return found


class _WithoutActivation:
    """A view of a layer whose `activation` is the identity.

    Every other attribute is the layer's own (weights included), so the
    layer's `call` run on this view computes its pre-activation values
    without changing the layer, which other threads (replicas of a
    `tf.distribute` strategy) may be calling at the same time.
    """

    activation = staticmethod(keras.activations.linear)

    def __init__(self, layer):
        object.__setattr__(self, "_layer", layer)

    def __getattr__(self, name):
        return getattr(self._layer, name)


class PreActivation(keras.layers.Layer):
    """Calls `layer` without its activation, on the layer's own weights.

    Used inside the Distiller's extractors only (never saved): its weights
    are the wrapped layer's, and its dtype policy is the layer's, so inputs
    are cast exactly as the layer itself casts them.
    """

    def __init__(self, layer, **kwargs):
        super().__init__(
            name=f"{layer.name}_logits", dtype=layer.dtype_policy, **kwargs
        )
        self._view = _WithoutActivation(layer)
        self._call = type(layer).call
        self._layer_compute_mask = layer.compute_mask
        # The logits keep the Keras mask the layer gives its outputs (padded
        # time steps of a sequence model stay left out of every term).
        self.supports_masking = True

    def call(self, *args, **kwargs):
        return self._call(self._view, *args, **kwargs)

    def compute_mask(self, inputs, mask=None):
        return self._layer_compute_mask(inputs, mask)


def split_call(head, layer, args, kwargs):
    """Calls a `PRE_ACTIVATION` or `INPUT` head: `(logits, outputs)`, where
    `outputs` equals what `layer(*args, **kwargs)` returns."""
    if head.how == INPUT:
        return args[0], layer(*args, **kwargs)
    logits = PreActivation(layer)(*args, **kwargs)
    activation = keras.layers.Activation(
        layer.activation, dtype=layer.dtype_policy, name=f"{layer.name}_activation"
    )
    return logits, activation(logits)
