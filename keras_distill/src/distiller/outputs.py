"""Multi-output models: one set of distillation terms per output."""

import copy

from keras_distill.src.losses.base import check_output
from keras_distill.src.utils.errors import invalid_argument


def output_structure(model):
    """The symbolic outputs of a functional or Sequential model, else `None`.

    A dict or list for multi-output models, one tensor otherwise; `None` for
    subclassed models, whose outputs are known only once they are called.
    """
    try:
        return model.output
    except (AttributeError, ValueError, RuntimeError):
        pass  # Sequential models have `outputs` only.
    try:
        outputs = model.outputs
    except (AttributeError, ValueError, RuntimeError):
        return None
    return outputs[0] if outputs and len(outputs) == 1 else None


def model_outputs(model):
    """`[(key, name), ...]` for a multi-output functional model, else `None`.

    `key` selects the output from what the model returns (a dict key or a
    list index); `name` is what users call it (the dict key, or the output
    layer's name). Models with one output, and subclassed models whose
    outputs are not known before a call, give `None`.
    """
    structure = output_structure(model)
    if isinstance(structure, dict):
        return [(key, key) for key in structure]
    if isinstance(structure, (list, tuple)) and len(structure) > 1:
        names = list(getattr(model, "output_names", None) or [])
        if len(names) != len(structure):
            names = [f"output_{index}" for index in range(len(structure))]
        return list(enumerate(names))
    return None


def shared_outputs(teacher, student):
    """The names of the student's outputs that the teacher has too (under
    the same key), in the student's order; raises when there are none."""
    student_outputs = model_outputs(student)
    teacher_outputs = model_outputs(teacher) if teacher is not None else None
    teacher_keys = dict((name, key) for key, name in teacher_outputs or [])
    shared = [name for key, name in student_outputs if teacher_keys.get(name) == key]
    if not shared:
        teacher_names = None if teacher_outputs is None else list(teacher_keys)
        raise invalid_argument(
            "distillation_loss_fn",
            None,
            "a dict {output_name: loss} for a student with several outputs "
            f"{[name for _, name in student_outputs]}, since the teacher shares "
            f"none of them by name (the teacher's outputs: {teacher_names})",
            "Name the outputs alike in both models, or map each student output "
            "to a loss (None skips one).",
        )
    return shared


def select(structure, key):
    """`structure[key]` for a term reading one output of a multi-output model."""
    if key is None or not isinstance(structure, (dict, list, tuple)):
        return structure
    return structure[key]


def _resolve(key, outputs, argument):
    """`(key, name)` of the output a dict entry `key` refers to."""
    if outputs is None:
        check_output(key)
        return key, key if isinstance(key, str) else f"output_{key}"
    for output_key, name in outputs:
        if key in (output_key, name):
            return output_key, name
    raise invalid_argument(
        argument,
        key,
        f"keys naming the student's outputs: {[name for _, name in outputs]}",
        "Map each output name to a loss, or to None to skip that output.",
    )


def output_entries(spec, outputs, argument):
    """`[(key, name, value)]` of a dict `{output: value}` or a list with one
    value per output of the student (`outputs`, from `model_outputs`; with
    `None`, the dict keys or list indices are taken as they are)."""
    if isinstance(spec, dict):
        return [(*_resolve(key, outputs, argument), value) for key, value in spec.items()]
    if outputs is None:
        return [(index, f"output_{index}", value) for index, value in enumerate(spec)]
    if len(spec) != len(outputs):
        raise invalid_argument(
            argument,
            spec,
            f"one loss (or None) per output of the student, {len(outputs)} in "
            f"all: {[name for _, name in outputs]}",
            "Or pass a dict {output_name: loss}.",
        )
    return [(key, name, value) for (key, name), value in zip(outputs, spec)]


def _entries(distillation_loss_fn, outputs):
    """`[(key, name, losses)]` of a per-output spec, or `None` if it is not one."""
    if isinstance(distillation_loss_fn, dict):
        return output_entries(distillation_loss_fn, outputs, "distillation_loss_fn")
    if not isinstance(distillation_loss_fn, (list, tuple)) or outputs is None:
        return None
    if any(getattr(loss, "output", None) is not None for loss in distillation_loss_fn):
        return None  # Terms that already name their output (e.g. from a config).
    return output_entries(distillation_loss_fn, outputs, "distillation_loss_fn")


def per_output_terms(distillation_loss_fn, outputs, as_term):
    """Terms of a dict / per-output list spec, or `None` for other specs.

    Each entry may be a loss, a list of losses, or `None` (that output is not
    distilled). Every term is a copy reading its output (`term.output`) and
    logged as `<output name>_<term name>`.
    """
    entries = _entries(distillation_loss_fn, outputs)
    if entries is None:
        return None
    terms = []
    for key, name, losses in entries:
        if losses is None:
            continue
        for loss in losses if isinstance(losses, (list, tuple)) else [losses]:
            term = copy.copy(as_term(loss))
            if term.output is not None:
                raise invalid_argument(
                    "distillation_loss_fn",
                    distillation_loss_fn,
                    "terms without `output` inside a per-output dict or list",
                    f"`{term.name}` already reads output {term.output!r}: list it "
                    "on its own instead.",
                )
            term.output = key
            term.name = f"{name}_{term.name}"
            terms.append(term)
    if not terms:
        raise invalid_argument(
            "distillation_loss_fn",
            distillation_loss_fn,
            "a loss for at least one output",
            "None skips an output; give at least one output a loss.",
        )
    return terms
