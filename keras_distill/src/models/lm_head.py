"""A teacher's logits computed chunk by chunk from its last hidden states.

A language model's logits `(batch, time, vocabulary)` come from a
position-wise output layer (the LM head) applied to hidden states
`(batch, time, features)`, and they are as large as everything else of a
step together. For a teacher, which is never differentiated, the chunked
KL term (`losses/chunked.py`) does not need them whole: `DeferredLogits`
keeps the hidden states and the head's weights (read in the step, so they
are the weights of this step), and gives the logits of any chunk of
positions. The teacher's full logits are then never materialized.

Heads found by `find_linear_head`:

- a KerasHub `CausalLM` (`backbone` + `backbone.token_embedding` called with
  `reverse=True`, tied or not, with its `logit_soft_cap`), the way KerasHub
  builds every causal LM;
- a Functional or Sequential model whose single output is a `Dense` layer
  with a linear activation.

Quantized or LoRA-enabled heads are left alone (their weights are not plain
matrices): such teachers run as before.
"""

import keras
from keras import ops

from keras_distill.src.utils.keras_compat import graph_of


def _plain(layer):
    return (getattr(layer, "quantization_mode", None) is None
            and not getattr(layer, "lora_enabled", False))


def _reversible_embedding(model):
    backbone = getattr(model, "backbone", None)
    embedding = getattr(backbone, "token_embedding", None)
    if not isinstance(backbone, keras.Model) or embedding is None:
        return None
    if not hasattr(embedding, "tie_weights") or not hasattr(embedding, "logit_soft_cap"):
        return None
    if not model.layers or model.layers[-1] is not embedding or not _plain(embedding):
        return None
    return backbone, embedding


def _dense_head(model):
    if graph_of(model) is None:
        return None
    outputs = keras.tree.flatten(model.outputs)
    last = model.layers[-1] if model.layers else None
    if len(outputs) != 1 or not isinstance(last, keras.layers.Dense) or not _plain(last):
        return None
    if last.activation is not keras.activations.linear or last.output is not outputs[0]:
        return None
    return keras.Model(model.inputs, last.input, name=f"{model.name}_body"), last


def find_linear_head(model):
    """`(body, head)` of a model whose logits `(batch, time, classes)` are a
    linear head of its hidden states (see the module docstring), else None."""
    if model is None:
        return None
    found = _reversible_embedding(model) or _dense_head(model)
    if found is None or len(keras.tree.flatten(found[0].outputs)[0].shape) != 3:
        return None  # Not a sequence: nothing is chunked.
    return found


class DeferredLogits:
    """Logits not yet computed: hidden states and the weights of the head.

    Args:
        hidden: Tensor `(batch, time, features)`.
        head: The head layer (its weights are read now).
        count: Keep the first `count` classes only (None: all).
        trainable: Whether gradients flow to `hidden` and the head's weights
            (a student's head, `losses/fused_head.py`); by default they are
            stopped (a teacher's).
    """

    def __init__(self, hidden, head, count=None, trainable=False):
        frozen = (lambda x: x) if trainable else ops.stop_gradient
        self.hidden = frozen(ops.convert_to_tensor(hidden))
        dtype = head.compute_dtype
        self.soft_cap = None
        self.bias = None
        if hasattr(head, "tie_weights"):  # A reversible embedding.
            self.equation = "...d,vd->...v" if head.tie_weights else "...d,dv->...v"
            kernel = head.embeddings if head.tie_weights else head.reverse_embeddings
            dtype = getattr(head, "reverse_dtype", None) or dtype
            self.soft_cap = head.logit_soft_cap
            classes = head.input_dim
        else:
            self.equation = "...d,dv->...v"
            kernel = head.kernel
            if head.use_bias:
                self.bias = frozen(ops.cast(head.bias, dtype))
            classes = head.units
        self.kernel = frozen(ops.cast(kernel, dtype))
        self.dtype = dtype
        self.count = count
        self.shape = (*tuple(hidden.shape)[:-1], classes if count is None else count)

    def logits(self, start=None, size=None):
        """The logits of positions `start:start + size` (all by default;
        `start` may be a tensor, a loop index), in the head's compute dtype."""
        logits = self.apply(time_slice(self.hidden, start, size), self.kernel, self.bias)
        return logits if self.count is None else logits[..., : self.count]

    def apply(self, hidden, kernel, bias=None):
        """The head's logits for `hidden` with the weights given (all
        classes), in the head's compute dtype."""
        logits = ops.einsum(self.equation, ops.cast(hidden, self.dtype), kernel)
        if bias is not None:
            logits = logits + bias
        if self.soft_cap is not None:
            logits = ops.tanh(logits / self.soft_cap) * self.soft_cap
        return logits


def time_slice(tensor, start=None, size=None):
    """`tensor[:, start:start + size]` (all of it by default), for `start` an
    int or a scalar tensor and `size` an int."""
    if start is None:
        return tensor
    shape = ops.shape(tensor)
    rest = len(tensor.shape) - 2
    return ops.slice(tensor, (0, start) + (0,) * rest, (shape[0], size, *shape[2:]))


def positions(logits, start=None, size=None):
    """The logits of positions `start:start + size` (all by default) as a
    tensor, whether `logits` is a tensor or `DeferredLogits`."""
    if isinstance(logits, DeferredLogits):
        return logits.logits(start, size)
    return time_slice(logits, start, size)
