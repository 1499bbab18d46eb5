"""Adapters: learnable projections of student features onto the teacher's shape.

A feature term such as `Hint` compares a student layer with a teacher layer
that usually has another width (and, for feature maps, another spatial
size). The Distiller then puts a small trainable projection on the student
side, one per term, as FitNets' regressor (Romero et al., 2015):

- vectors and sequences `(batch, ..., channels)`: a `Dense` layer on the last
  axis;
- feature maps `(batch, height, width, channels)`: a 1x1 `Conv2D`, after (or
  before) a bilinear resize when the spatial sizes differ.

Adapters belong to the Distiller: they are tracked by it, trained with the
student (they are in `distiller.trainable_weights`), saved in the Distiller's
`.keras` file, and never added to the student, whose saved or exported file
keeps exactly its own weights. They are created from static shapes when the
Distiller is constructed or compiled, so a loaded Distiller has them before
its weights are restored.
"""

import keras
from keras import ops

# Values of a term's `adapter` attribute.
AUTO = "auto"
ALWAYS = "always"


@keras.saving.register_keras_serializable(package="keras_distill")
class FeatureAdapter(keras.layers.Layer):
    """Projects student features to the teacher's channels (and size).

    A 1x1 projection and a bilinear resize are both linear maps whose
    weights sum to one along the axes they mix, so they commute (bias
    included); the projection runs at the smaller of the two resolutions.

    Args:
        units: Number of teacher channels (size of the last axis).
        size: Optional `(height, width)` of the teacher's feature maps. When
            given, student maps of rank 4 are resized to it.
        interpolation: Resize interpolation, e.g. `"bilinear"`.
        **kwargs: Passed to `keras.layers.Layer` (e.g. `name`).
    """

    def __init__(self, units, size=None, interpolation="bilinear", **kwargs):
        super().__init__(**kwargs)
        self.units = int(units)
        self.size = None if size is None else tuple(int(d) for d in size)
        self.interpolation = interpolation
        self.projection = None

    def build(self, input_shape):
        input_shape = tuple(input_shape)
        if len(input_shape) == 4:
            self.projection = keras.layers.Conv2D(
                self.units, 1, name="projection", dtype=self.dtype_policy
            )
        else:
            self.projection = keras.layers.Dense(
                self.units, name="projection", dtype=self.dtype_policy
            )
        self.projection.build(input_shape)
        self._project_first = self.size is not None and (
            _area(input_shape) is not None
            and _area(input_shape) < self.size[0] * self.size[1]
        )

    def _resize(self, x):
        if self.size is None:
            return x
        return ops.image.resize(x, self.size, interpolation=self.interpolation)

    def call(self, inputs):
        if self._project_first:
            return self._resize(self.projection(inputs))
        return self.projection(self._resize(inputs))

    def compute_output_shape(self, input_shape):
        shape = list(input_shape)
        if self.size is not None and len(shape) == 4:
            shape[1:3] = self.size
        shape[-1] = self.units
        return tuple(shape)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "units": self.units,
                "size": self.size,
                "interpolation": self.interpolation,
            }
        )
        return config


def _area(shape):
    if len(shape) != 4 or shape[1] is None or shape[2] is None:
        return None
    return shape[1] * shape[2]


def adapter_spec(term, teacher_shape, student_shape):
    """What adapter `term` needs for these static shapes, or None.

    Returns:
        None when the term takes no adapter (its `adapter` attribute is
        missing or None) or when `adapter="auto"` and the shapes already
        agree; else a tuple `(units, size, interpolation, student_shape)`.
    """
    policy = getattr(term, "adapter", None)
    if policy is None or teacher_shape is None or student_shape is None:
        return None
    teacher_shape, student_shape = tuple(teacher_shape), tuple(student_shape)
    if policy == AUTO and teacher_shape[1:] == student_shape[1:]:
        return None
    size = None
    if (
        len(teacher_shape) == 4
        and None not in teacher_shape[1:3]
        and teacher_shape[1:3] != student_shape[1:3]
    ):
        size = teacher_shape[1:3]
    interpolation = getattr(term, "interpolation", "bilinear")
    return (teacher_shape[-1], size, interpolation, student_shape)


def build_adapters(terms, taps, previous=None):
    """One built `FeatureAdapter` per term that needs one, by term name.

    An adapter of `previous` whose term name and shapes are unchanged is
    kept (with its trained weights), so calling `compile` again does not
    reset adapters.

    Args:
        terms: The distillation terms, in order.
        taps: The `FeatureTaps` giving static shapes.
        previous: The adapters installed before, `{term name: adapter}`.

    Returns:
        A dict `{term name: FeatureAdapter}` in term order.
    """
    previous = previous or {}
    adapters = {}
    for term in terms:
        spec = adapter_spec(
            term,
            taps.shape("teacher", term.teacher_source),
            taps.shape("student", term.student_source),
        )
        if spec is None:
            continue
        old = previous.get(term.name)
        if old is not None and getattr(old, "spec", None) == spec:
            adapters[term.name] = old
            continue
        units, size, interpolation, student_shape = spec
        adapter = FeatureAdapter(
            units, size, interpolation, name=f"{term.name}_adapter"
        )
        adapter.build(student_shape)
        adapter.spec = spec
        adapters[term.name] = adapter
    return adapters
