"""Feature taps: one forward pass that returns a model's outputs and named layers.

A distillation term that reads an intermediate layer (`teacher_layer` /
`student_layer`) needs that layer's output from the same forward pass that
produces the model's final outputs. For each model the Distiller builds one
multi-output extractor, a Functional model over the model's own layers (no
copy, shared weights):

    extractor(x) -> {OUTPUTS: model(x), "conv3": ..., "backbone/block2": ...}

so the student runs once per step (outputs and features together, in
training mode) and the teacher runs once (inference mode).

Layers are named by path: `"conv3"` is a layer of the model, and
`"backbone/conv3"` is the layer `conv3` of the sub-model `backbone`, to any
depth. Sub-models are Functional or Sequential models; each one holding a
tapped layer is replaced by its own extractor, called with the same arguments
(so a `training=False` given when the sub-model was called still holds).
"""

import difflib

import keras

from keras_distill.src.losses.base import OUTPUTS
from keras_distill.src.losses.base import PREDICTIONS
from keras_distill.src.models import heads as heads_lib
from keras_distill.src.utils import keras_compat
from keras_distill.src.utils.keras_compat import graph_of

SEPARATOR = "/"


def _require_graph(model, argument, path):
    graph = graph_of(model)
    if graph is not None:
        return graph
    if isinstance(model, keras.Sequential):
        problem = (
            f"the Sequential model '{model.name}' is not built, so its layers "
            "have no outputs yet"
        )
        fix = (
            "Start it with `keras.Input(shape)` (or call `model.build(input_"
            "shape)`) before creating the Distiller."
        )
    else:
        kind = "subclassed model" if isinstance(model, keras.Model) else "layer"
        problem = (
            f"'{model.name}' is a {kind} ({type(model).__name__}); only "
            "Functional and Sequential models have a graph of layers to tap"
        )
        fix = (
            "Rebuild it as a Functional model (`inputs = keras.Input(shape)`, "
            "call the layers, `keras.Model(inputs, outputs)`) or a Sequential "
            "one, then copy the weights with `functional.set_weights("
            "subclassed.get_weights())`. Terms without `teacher_layer` / "
            "`student_layer` (logit terms) work with any model."
        )
    raise ValueError(
        f"Cannot tap layer '{path}' of the {argument}: {problem}. {fix}"
    )


def layer_paths(model):
    """Every tappable layer path of `model`, sub-models included."""
    graph = graph_of(model)
    if graph is None:
        return []
    paths = []
    for layer in graph.layers:
        if isinstance(layer, keras.layers.InputLayer):
            continue
        paths.append(layer.name)
        paths.extend(
            layer.name + SEPARATOR + sub for sub in layer_paths(layer)
        )
    return paths


def _unknown_layer(model, argument, prefix, path):
    known = [prefix + known_path for known_path in layer_paths(model)]
    path = prefix + path
    nearest = difflib.get_close_matches(path, known, n=3, cutoff=0.4)
    hint = (
        f"Did you mean {', '.join(repr(name) for name in nearest)}? "
        if nearest
        else ""
    )
    shown = known if len(known) <= 30 else known[:30] + ["..."]
    where = f"sub-model '{model.name}' of the {argument}" if prefix else (
        f"{argument} '{model.name}'"
    )
    return ValueError(
        f"Invalid layer name for the {where}. Received: '{path}'. Expected "
        "the name of one of its layers, with '/' between a sub-model and its "
        f"layer. {hint}Its layers: {shown}."
    )


def _calls_per_layer(graph):
    counts = {}
    for node in keras_compat.nodes(graph):
        name = node.operation.name
        counts[name] = counts.get(name, 0) + 1
    return counts


def _group_paths(paths):
    """{"a": ["", "b/c"]} for paths ["a", "a/b/c"]: head -> rest of path."""
    groups = {}
    for path in paths:
        head, _, rest = path.partition(SEPARATOR)
        groups.setdefault(head, []).append(rest)
    return groups


def _check_paths(graph, model, groups, argument, prefix):
    calls = _calls_per_layer(graph)
    for head, rests in groups.items():
        if head not in calls:
            path = SEPARATOR.join(filter(None, [head, rests[0]]))
            raise _unknown_layer(model, argument, prefix, path)
        if calls[head] > 1:
            raise ValueError(
                f"Cannot tap layer '{prefix + head}' of the {argument}: it is "
                f"called {calls[head]} times in '{model.name}', so its output "
                "is ambiguous. Tap a layer that is called once (for example "
                "the layer right after it)."
            )


def build_extractor(model, paths, argument="model", prefix="", split_heads=False):
    """A Functional model mapping the model's inputs to outputs and layers.

    Args:
        model: A Functional or Sequential Keras model.
        paths: Layer paths to tap, e.g. `["conv3", "backbone/conv2"]`.
        argument: `"teacher"` or `"student"`, used in error messages.
        prefix: Path of `model` inside the top model (for errors).
        split_heads: Whether outputs that end in a softmax or a sigmoid
            (`models/heads.py`) are returned as the logits before it.

    Returns:
        A `keras.Model` over `model`'s own layers (shared weights) whose
        output is a dict `{OUTPUTS: <model outputs>, path: tensor, ...}`.
        With `split_heads`, `OUTPUTS` holds the logits of split heads (the
        other outputs as they are) and `PREDICTIONS` the model's outputs.

    Raises:
        ValueError: If the model is not Functional/Sequential, a path names
            no layer (the error lists the nearest names), or a tapped layer
            is called more than once (its output would be ambiguous).
    """
    graph = _require_graph(model, argument, prefix + (paths[0] if paths else ""))
    groups = _group_paths(paths)
    _check_paths(graph, model, groups, argument, prefix)
    heads = heads_lib.find_heads(graph) if split_heads else {}
    taps, logits_of = {}, {}

    def call(operation, *args, **kwargs):
        rests = groups.get(operation.name, [])
        head = heads.get(operation.name)
        nested = [rest for rest in rests if rest]
        if nested or (head is not None and head.how == heads_lib.NESTED):
            sub = build_extractor(
                operation, nested, argument, prefix + operation.name + SEPARATOR,
                split_heads=head is not None,
            )
            results = sub(*args, **kwargs)
            for rest in nested:
                taps[operation.name + SEPARATOR + rest] = results[rest]
            outputs = results.get(PREDICTIONS, results[OUTPUTS])
            logits_of[id(outputs)] = results[OUTPUTS]
        elif head is not None and head.reachable:
            logits, outputs = heads_lib.split_call(head, operation, args, kwargs)
            logits_of[id(outputs)] = logits
        else:
            outputs = operation(*args, **kwargs)
        if "" in rests:
            if not isinstance(outputs, keras.KerasTensor):
                raise ValueError(
                    f"Cannot tap layer '{prefix + operation.name}' of the "
                    f"{argument}: it returns a {type(outputs).__name__}, not "
                    "one tensor. Tap a layer with a single output."
                )
            taps[operation.name] = outputs
        return outputs

    inputs = keras.tree.map_structure(
        lambda x: keras.Input(batch_shape=x.shape, dtype=x.dtype, name=x.name),
        graph.input,
    )
    # The model's graph re-run symbolically on new inputs with the same
    # layers, intercepting the calls of tapped layers, heads and sub-models.
    outputs = keras_compat.run_through_graph(graph, inputs, call)
    extracted = {path: taps[path] for path in paths}
    if split_heads:
        extracted[PREDICTIONS] = outputs
        outputs = keras.tree.map_structure(lambda t: logits_of.get(id(t), t), outputs)
    return keras.Model(
        inputs, {OUTPUTS: outputs, **extracted}, name=f"{model.name}_feature_taps"
    )


def _static_shape(tensors):
    if isinstance(tensors, keras.KerasTensor):
        return tuple(tensors.shape)
    return None


def _model_output_shape(model):
    outputs = getattr(model, "outputs", None)
    if outputs and len(outputs) == 1:
        return tuple(outputs[0].shape)
    return None


def _student_has_heads(student, terms):
    """Whether the student's outputs end in a softmax or sigmoid; raises
    when a term reads an output whose logits cannot be reached."""
    heads = heads_lib.find_heads(student)
    read = {term.output for term in terms if term.student_source == OUTPUTS}
    for top in heads.values():
        if None not in read and top.output not in read:
            continue  # No term reads this output: it stays as it is.
        for head in heads_lib.unreachable({top.layer.name: top}):
            raise ValueError(
                f"Cannot read the logits of the student '{student.name}': its "
                f"output ends in {head.describe()}, and {head.reason}. The "
                "distillation terms compare logits. End the student in a linear "
                "layer followed by keras.layers.Activation"
                f"('{head.activation}'), or let it output logits (and pass "
                "from_logits=True to its loss)."
            )
    return bool(heads)


class FeatureTaps:
    """The teacher's and the student's extractors for a list of terms.

    A plain Python object (not a Keras layer): the extractors share the
    models' layers, so they hold no state of their own and are neither
    tracked nor saved. Without any layer to tap, or head to split, a model
    runs as itself.

    The student's outputs that end in a softmax or sigmoid are always split
    (`models/heads.py`): `forward("student", ...)` gives the logits under
    `OUTPUTS`, for the terms, and what the student returns under
    `PREDICTIONS`, for its hard-label loss and metrics.

    Args:
        teacher: The teacher model.
        student: The student model.
        terms: The distillation terms; each reads `term.teacher_source` and
            `term.student_source` (`OUTPUTS` or a layer path).
        split_teacher_heads: Whether the teacher's extractor (built when a
            term taps a teacher layer) reads its outputs before their final
            softmax or sigmoid.
    """

    def __init__(self, teacher, student, terms, split_teacher_heads=False):
        self.models = {"teacher": teacher, "student": student}
        self.paths = {
            "teacher": _layer_sources(term.teacher_source for term in terms),
            "student": _layer_sources(term.student_source for term in terms),
        }
        split = {
            "teacher": split_teacher_heads,
            "student": _student_has_heads(student, terms),
        }
        self.extractors = {
            role: build_extractor(self.models[role], paths, role, split_heads=split[role])
            if paths or (split[role] and role == "student")
            else None
            for role, paths in self.paths.items()
        }

    def same_paths(self, terms):
        """Whether these terms read exactly the layers already tapped."""
        return self.paths == {
            "teacher": _layer_sources(term.teacher_source for term in terms),
            "student": _layer_sources(term.student_source for term in terms),
        }

    def forward(self, role, x, training):
        """`{OUTPUTS: ..., path: tensor, ...}` from one pass of the model;
        for the student also `PREDICTIONS`."""
        extractor = self.extractors[role]
        if extractor is None:
            outputs = self.models[role](x, training=training)
            return {OUTPUTS: outputs, PREDICTIONS: outputs}
        outputs = extractor(x, training=training)
        if PREDICTIONS not in outputs:
            outputs = {**outputs, PREDICTIONS: outputs[OUTPUTS]}
        return outputs

    def shape(self, role, source):
        """Static shape of what `source` reads from the model, or None."""
        extractor = self.extractors[role]
        if source == OUTPUTS:
            if extractor is None:
                return _model_output_shape(self.models[role])
            return _static_shape(extractor.output[OUTPUTS])
        return _static_shape(extractor.output[source])


def _layer_sources(sources):
    """Distinct layer paths among `sources`, in first-seen order."""
    paths = []
    for source in sources:
        if source != OUTPUTS and source not in paths:
            paths.append(source)
    return paths
