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

SEPARATOR = "/"


def graph_of(model):
    """The Functional graph of a Functional or Sequential model, else None."""
    if isinstance(model, keras.Sequential):
        return getattr(model, "_functional", None)
    if isinstance(model, keras.Model) and hasattr(model, "_run_through_graph"):
        return model
    return None


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
    for nodes in graph._nodes_by_depth.values():
        for node in nodes:
            if node.operation is not None and not node.is_input:
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


def build_extractor(model, paths, argument="model", prefix=""):
    """A Functional model mapping the model's inputs to outputs and layers.

    Args:
        model: A Functional or Sequential Keras model.
        paths: Layer paths to tap, e.g. `["conv3", "backbone/conv2"]`.
        argument: `"teacher"` or `"student"`, used in error messages.
        prefix: Path of `model` inside the top model (for errors).

    Returns:
        A `keras.Model` over `model`'s own layers (shared weights) whose
        output is a dict `{OUTPUTS: <model outputs>, path: tensor, ...}`.

    Raises:
        ValueError: If the model is not Functional/Sequential, a path names
            no layer (the error lists the nearest names), or a tapped layer
            is called more than once (its output would be ambiguous).
    """
    graph = _require_graph(model, argument, prefix + paths[0])
    groups = _group_paths(paths)
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

    taps = {}

    def call(operation, *args, **kwargs):
        rests = groups.get(operation.name)
        if rests is None:
            return operation(*args, **kwargs)
        nested = [rest for rest in rests if rest]
        if nested:
            sub = build_extractor(
                operation, nested, argument, prefix + operation.name + SEPARATOR
            )
            results = sub(*args, **kwargs)
            for rest in nested:
                taps[operation.name + SEPARATOR + rest] = results[rest]
            outputs = results[OUTPUTS]
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
    # Re-runs the model's graph symbolically on new inputs, layer by layer,
    # with the same layers (as `keras.models.clone_model` does with this
    # same method), intercepting the calls of tapped layers and sub-models.
    outputs = graph._run_through_graph(
        inputs, operation_fn=lambda op: op, call_fn=call
    )
    return keras.Model(
        inputs,
        {OUTPUTS: outputs, **{path: taps[path] for path in paths}},
        name=f"{model.name}_feature_taps",
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


class FeatureTaps:
    """The teacher's and the student's extractors for a list of terms.

    A plain Python object (not a Keras layer): the extractors share the
    models' layers, so they hold no state of their own and are neither
    tracked nor saved. Without any layer to tap, a model runs as itself.

    Args:
        teacher: The teacher model.
        student: The student model.
        terms: The distillation terms; each reads `term.teacher_source` and
            `term.student_source` (`OUTPUTS` or a layer path).
    """

    def __init__(self, teacher, student, terms):
        self.models = {"teacher": teacher, "student": student}
        self.paths = {
            "teacher": _layer_sources(term.teacher_source for term in terms),
            "student": _layer_sources(term.student_source for term in terms),
        }
        self.extractors = {
            role: build_extractor(self.models[role], paths, role)
            if paths
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
        """`{OUTPUTS: ..., path: tensor, ...}` from one pass of the model."""
        extractor = self.extractors[role]
        if extractor is None:
            return {OUTPUTS: self.models[role](x, training=training)}
        return extractor(x, training=training)

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
