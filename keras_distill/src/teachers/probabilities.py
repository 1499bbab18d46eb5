"""Teachers that output probabilities, and the logits the terms read instead.

Every distillation term softens logits: `softmax(t / T)`. A teacher that
ends in a softmax outputs probabilities `p`, and softening those as if they
were logits flattens every target (a 95%-sure teacher becomes about 12% sure
at T=4 over 10 classes). `teacher_outputs` says which it is:

- `"auto"` (the default): a Functional or Sequential teacher whose outputs
  end in a softmax or sigmoid (`models/heads.py`) is read before it, from
  the same forward pass: its exact logits. Other teachers (callables,
  SavedModels, subclassed models) are taken to output logits, and their
  first batch is checked once: outputs that are non-negative and sum to 1
  raise an error saying to pass `"probabilities"`.
- `"probabilities"`: the teacher outputs softmax probabilities; the terms
  read `log(p)` (clipped away from 0). This is exact, because
  `softmax(log(p) / T)` is the teacher's distribution at temperature T.
  Heads found in the graph are still read before their softmax.
- `"logits"`: the outputs are logits; nothing is checked or converted. A
  teacher whose graph ends in a softmax is refused.
"""

import keras
import numpy as np
from keras import ops

from keras_distill.src.distiller.feature_taps import build_extractor
from keras_distill.src.losses.base import OUTPUTS
from keras_distill.src.models import heads as heads_lib
from keras_distill.src.teachers.callable_teacher import as_logits
from keras_distill.src.utils.errors import invalid_argument
from keras_distill.src.utils.keras_compat import graph_of

MODES = ("auto", "logits", "probabilities")
# log(p) is clipped here: the smallest normal float32, log = -87.3.
_SMALLEST = float(np.finfo("float32").tiny)


def check_mode(mode, argument="teacher_outputs"):
    """Returns `mode` after checking it is one of `MODES`."""
    if mode not in MODES:
        raise invalid_argument(
            argument,
            mode,
            f"one of {MODES}",
            "'auto' reads the logits before a final softmax of Keras models; "
            "'probabilities' says that the teacher outputs softmax "
            "probabilities; 'logits' that it outputs logits.",
        )
    return mode


def log_probabilities(probabilities):
    """`log(p)` in float32, with `p` clipped to the smallest normal float32:
    logits whose softmax is `p` (exactly, for every `p` above the clip)."""
    probabilities = ops.cast(probabilities, "float32")
    return ops.log(ops.maximum(probabilities, _SMALLEST))


def looks_like_probabilities(outputs, tolerance=1e-3):
    """Whether every row of a float array `(batch, ..., classes)` with
    several classes is non-negative and sums to 1."""
    outputs = np.asarray(outputs)
    if outputs.ndim < 2 or outputs.shape[-1] < 2 or outputs.size == 0:
        return False
    if not np.issubdtype(outputs.dtype, np.floating):
        return False
    outputs = outputs.astype("float64")
    return bool(
        np.all(outputs >= 0) and np.all(np.abs(outputs.sum(-1) - 1.0) <= tolerance)
    )


def _refuse_logits_mode(teacher, heads):
    names = ", ".join(head.describe() for head in heads.values())
    return invalid_argument(
        "teacher_outputs",
        "logits",
        f"'auto' or 'probabilities' for teacher '{teacher.name}', whose "
        f"outputs end in {names}",
        "Its outputs are probabilities: with 'auto' the Distiller reads the "
        "logits before that activation.",
    )


class TeacherLogits:
    """One teacher's forward pass, returning logits (plain object: it holds
    no state of its own and is neither tracked nor saved).

    Args:
        teacher: A Keras layer (a model, a `TFSMLayer`, a `CallableTeacher`).
        mode: One of `MODES` (see this module's docstring).
        argument: The argument name used in errors.
    """

    def __init__(self, teacher, mode="auto", argument="teacher"):
        self.teacher = teacher
        self.mode = check_mode(mode)
        self.split_heads = False
        self.log_probabilities = False
        self.check_first_batch = False
        if graph_of(teacher) is not None:
            self._resolve_graph(teacher, argument)
        elif mode == "probabilities":
            self.log_probabilities = True
        elif mode == "auto":
            self.check_first_batch = True
        # Built now, outside any traced step: the model returning the logits
        # before the split heads.
        self.extractor = (
            build_extractor(teacher, [], argument, split_heads=True)
            if self.split_heads
            else None
        )

    def _resolve_graph(self, teacher, argument):
        heads = heads_lib.find_heads(teacher)
        if heads and self.mode == "logits":
            raise _refuse_logits_mode(teacher, heads)
        unreachable = heads_lib.unreachable(heads)
        single = len(keras.tree.flatten(teacher.outputs)) == 1
        if unreachable:
            head = unreachable[0]
            if not single or head.activation != heads_lib.SOFTMAX:
                raise ValueError(
                    f"Cannot read the logits of the {argument} '{teacher.name}': "
                    f"its output ends in {head.describe()}, and {head.reason}. "
                    "End the model in a linear layer followed by "
                    "keras.layers.Activation('softmax') (the same function), "
                    "or pass a teacher that outputs logits."
                )
            self.log_probabilities = True  # One softmax output: log(p) is exact.
        elif heads:
            self.split_heads = True
        elif self.mode == "probabilities":
            self.log_probabilities = True

    def __call__(self, inputs, temperature=None):
        """The teacher's logits for `inputs`, in inference mode (a single
        teacher's do not depend on the temperature)."""
        if self.split_heads:
            outputs = self.extractor(inputs, training=False)[OUTPUTS]
        else:
            outputs = self.teacher(inputs, training=False)
            if not isinstance(self.teacher, keras.Model):
                # SavedModel layers and callables: unwrap a one-entry dict/list.
                outputs = as_logits(outputs, self.teacher.name)
        return self.to_logits(outputs)

    def to_logits(self, outputs):
        """`outputs` (already read before any split head) as logits."""
        if self.log_probabilities:
            return keras.tree.map_structure(log_probabilities, outputs)
        return outputs

    def check_outputs(self, inputs):
        """Raises when this teacher, taken to output logits, returns what
        look like probabilities on `inputs` (one batch, run eagerly)."""
        if not self.check_first_batch:
            return
        for outputs in keras.tree.flatten(self(inputs)):
            if looks_like_probabilities(ops.convert_to_numpy(outputs)):
                raise invalid_argument(
                    "teacher_outputs",
                    self.mode,
                    "'probabilities' for a teacher whose outputs are "
                    "probabilities: the outputs of teacher "
                    f"'{self.teacher.name}' on the first batch are "
                    "non-negative and sum to 1",
                    "Pass teacher_outputs='probabilities' (the terms then read "
                    "log-probabilities, which is exact), or make the teacher "
                    "return its logits. Pass 'logits' if these really are "
                    "logits.",
                )
        self.check_first_batch = False  # The kind of outputs does not change.
