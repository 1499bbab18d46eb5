"""The Distiller: a `keras.Model` that trains a student from a frozen teacher."""

import copy

import keras
from keras import ops

from keras_distill.src.distiller import adapters as adapters_lib
from keras_distill.src.distiller import feature_taps
from keras_distill.src.distiller import finite
from keras_distill.src.distiller import fit_checks
from keras_distill.src.distiller import replicas
from keras_distill.src.distiller import steps
from keras_distill.src.distiller import student_loss as student_loss_lib
from keras_distill.src.distiller import terms as terms_lib
from keras_distill.src.losses.base import OUTPUTS
from keras_distill.src.losses.base import PREDICTIONS
from keras_distill.src.schedules import hyperparameter
from keras_distill.src.schedules.guard import ScheduleGuard
from keras_distill.src.teachers import cache as teacher_cache
from keras_distill.src.teachers import teacher as teacher_lib
from keras_distill.src.utils import keras_compat
from keras_distill.src.utils.errors import invalid_argument
from keras_distill.src.utils.keras_compat import get_keras_mask
from keras_distill.src.utils.keras_compat import scale_loss_for_distribution
from keras_distill.src.utils.keras_compat import unscale_loss_for_distribution
from keras_distill.src.utils.validation import check_temperature
from keras_distill.src.utils.validation import check_unit_interval

_SERIALIZE = keras.saving.serialize_keras_object
_DESERIALIZE = keras.saving.deserialize_keras_object


def _check_model(model, argument):
    if not isinstance(model, keras.layers.Layer):
        raise invalid_argument(
            argument,
            model,
            "a Keras model (keras.Model or keras.layers.Layer)",
            f"Build the {argument} with Keras 3, or load it with "
            "keras.models.load_model / keras.layers.TFSMLayer.",
        )


def _uses_float16(model):
    """True when the model or any of its layers computes in float16."""
    return any(
        getattr(layer, "compute_dtype", None) == "float16"
        for layer in keras_compat.all_layers(model)
    )


@keras.saving.register_keras_serializable(package="keras_distill")
class Distiller(keras.Model):
    """Trains a student model from a frozen teacher by knowledge distillation.

    The loss of a training step is

        alpha * student_loss(y, student(x))
        + (1 - alpha) * sum_i weight_i * term_i(teacher(x), student(x), T)

    where the default term is `keras_distill.losses.KLDivergence`, i.e.
    `T^2 * KL(softmax(teacher / T) || softmax(student / T))` (Hinton et al.,
    2015, https://arxiv.org/abs/1503.02531). Every term is reduced per example
    with `sample_weight` (an example of weight 0 is removed from every term).

    The teacher runs once per step, in inference mode (`training=False`),
    outside the gradient tape; its weights and BatchNorm statistics never
    change. `call`, `predict` and `evaluate` use the student alone: the
    teacher never runs outside of training.

    `temperature` and `alpha` are non-trainable `keras.Variable`s, so
    `distiller.temperature.assign(8.0)` takes effect at the next step without
    retracing. Each may also be a schedule `step -> value` (for example any
    `keras.optimizers.schedules.LearningRateSchedule`), evaluated and
    validated inside the step from `optimizer.iterations`; or set them from
    callbacks (`keras_distill.callbacks.TemperatureScheduler`, ...).

    Without labels (a dataset of `x` only), the student is trained on the
    distillation terms alone and `alpha` is ignored. The student's own
    losses (`kernel_regularizer`, `activity_regularizer`, `add_loss`) are
    added once, unweighted by `alpha`, as `keras.Model.fit` adds them.

    Probabilities: terms compare logits. A teacher or student whose outputs
    end in a softmax (or sigmoid), as `keras.applications` models do by
    default, is read before that activation, from the same forward pass;
    the student still predicts probabilities, and its hard-label loss sees
    them. See `teacher_outputs` for teachers whose graph cannot be read.

    NaN or Inf losses: add `keras.callbacks.TerminateOnNaN()` to `fit`; it
    reads the `loss` this model logs and stops training.

    Args:
        teacher: The trained teacher, frozen: a Keras model, a
            `keras.layers.TFSMLayer`, a plain callable `inputs -> logits`, a
            list of them (a `keras_distill.teachers.Ensemble`), or `None` when
            training only on datasets from `keras_distill.cache_teacher_outputs`.
        student: The student, a Keras model, trained in place.
        distillation_loss_fn: A `keras_distill.losses` term, a plain Keras
            loss (applied to softened probabilities and multiplied by `T^2`,
            as in the keras.io example), or a list of them. Defaults to
            `keras_distill.losses.KLDivergence()`.
        student_loss_fn: Loss on the hard labels, e.g.
            `keras.losses.SparseCategoricalCrossentropy(from_logits=True)`;
            for a multi-output student, a dict `{output: loss}` or a list
            with one loss (or `None`) per output, as `Model.compile` takes.
        alpha: Weight of the student loss in [0, 1], or a schedule.
        temperature: Softening temperature > 0, or a schedule.
        distillation_loss_weights: One weight (or schedule) per term.
        teacher_outputs: What the teacher outputs: `"auto"` (the default)
            reads Keras models before a final softmax and checks the first
            batch of other teachers; `"probabilities"` for callables or
            SavedModels that return softmax probabilities (the terms read
            `log(p)`, which is exact); `"logits"` to skip every check.
        loss_weights: With a dict or list `student_loss_fn`, one weight per
            output (a dict or a list), as `Model.compile` takes.
        **kwargs: Passed to `keras.Model` (e.g. `name`).

    Example:

    ```python
    distiller = keras_distill.Distiller(teacher=teacher, student=student)
    distiller.compile(
        optimizer="adam",
        metrics=["accuracy"],
        student_loss_fn=keras.losses.SparseCategoricalCrossentropy(
            from_logits=True),
        alpha=0.1,
        temperature=4.0,
    )
    distiller.fit(train_ds, validation_data=val_ds, epochs=5)
    distiller.student.save("student.keras")
    ```
    """

    def __init__(
        self,
        teacher=None,
        student=None,
        distillation_loss_fn=None,
        student_loss_fn=None,
        alpha=0.1,
        temperature=3.0,
        distillation_loss_weights=None,
        teacher_outputs="auto",
        loss_weights=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        _check_model(student, "student")
        if teacher_lib.includes(teacher, student):
            raise invalid_argument(
                "teacher",
                getattr(student, "name", student),
                "a model other than the student",
                "Pass the trained model as `teacher` and a new (usually "
                "smaller) model as `student`.",
            )
        self.teacher = teacher_lib.as_teacher(teacher, teacher_outputs)
        self.teacher_outputs = teacher_outputs
        self._teacher_logits = teacher_lib.logits_of(self.teacher, teacher_outputs)
        self.student = student
        self.temperature = keras.Variable(
            1.0,
            dtype="float32",
            trainable=False,
            name="temperature",
            aggregation="only_first_replica",
        )
        self.alpha = keras.Variable(
            0.0,
            dtype="float32",
            trainable=False,
            name="alpha",
            aggregation="only_first_replica",
        )
        self._term_weights = []
        self._term_trackers = []
        self._student_output_trackers = []
        self._schedule_guard = ScheduleGuard()
        self._taps = None
        self._adapters = {}
        self._student_loss_tracker = keras.metrics.Mean(name="student_loss")
        self._distillation_loss_tracker = keras.metrics.Mean(
            name="distillation_loss"
        )
        self._configure(
            student_loss_fn=student_loss_fn,
            loss_weights=loss_weights,
            distillation_loss_fn=distillation_loss_fn,
            distillation_loss_weights=distillation_loss_weights,
            alpha=alpha,
            temperature=temperature,
        )
        self.built = True

    def _lock_state(self):
        # Like Functional models, allow compile() to add state (term weights
        # and trackers) after the Distiller has been called once.
        pass

    # ------------------------------------------------------------------
    # Configuration
    # ------------------------------------------------------------------

    def _configure(
        self,
        student_loss_fn,
        loss_weights,
        distillation_loss_fn,
        distillation_loss_weights,
        alpha,
        temperature,
    ):
        """Validates and installs losses and hyperparameters."""
        self._student_loss = student_loss_lib.StudentLoss(
            student_loss_fn, loss_weights, self.student
        )
        self._install_student_trackers()
        terms = terms_lib.as_terms(distillation_loss_fn, self.student, self.teacher)
        weights = terms_lib.as_weights(distillation_loss_weights, terms)
        self._set_hyperparameter("temperature", temperature, check_temperature)
        self._set_hyperparameter("alpha", alpha, check_unit_interval)
        self._schedules = {
            name: value
            for name, value in (("temperature", temperature), ("alpha", alpha))
            if hyperparameter.is_schedule(value)
        }
        self._hyperparameters = {"temperature": temperature, "alpha": alpha}
        if self._taps is None or not self._taps.same_paths(terms):
            self._taps = feature_taps.FeatureTaps(
                self.teacher,
                self.student,
                terms,
                split_teacher_heads=getattr(self._teacher_logits, "split_heads", False),
            )
        for term in terms:
            term.validate_shapes(*self._term_shapes(term))
        self._install_terms(terms, weights)
        self._install_adapters(terms)

    def _set_hyperparameter(self, name, value, check):
        start = hyperparameter.initial_value(value, name)
        getattr(self, name).assign(check(start, argument=name))

    def _term_shapes(self, term):
        if term.teacher_source == OUTPUTS and term.student_source == OUTPUTS:
            teacher_shape, student_shape = terms_lib.term_shapes(
                term, self.teacher, self.student
            )
            if teacher_shape is None and term.output is None and self.teacher is not None:
                teacher_shape = teacher_lib.static_output_shape(self.teacher)
            return teacher_shape, student_shape
        return (
            self._taps.shape("teacher", term.teacher_source),
            self._taps.shape("student", term.student_source),
        )

    @property
    def student_loss_fn(self):
        """The hard-label loss: a Keras loss, a dict or list of them, or None."""
        loss_fn = self._student_loss.loss_fn
        if isinstance(loss_fn, (dict, list, tuple)) or loss_fn is None:
            return loss_fn
        return keras.losses.get(loss_fn)

    @property
    def loss_weights(self):
        """The weights of a per-output `student_loss_fn`, as given."""
        return self._student_loss.loss_weights

    def _install_student_trackers(self):
        """One `<output>_student_loss` tracker per output with a loss."""
        for tracker in self._student_output_trackers:
            keras_compat.untrack(self, tracker)
        names = self._student_loss.names if self._student_loss.per_output else []
        self._student_output_trackers = [
            keras.metrics.Mean(name=f"{name}_student_loss") for name in names
        ]

    def _install_adapters(self, terms):
        """Creates the feature adapters the terms need (kept if unchanged)."""
        adapters = adapters_lib.build_adapters(terms, self._taps, self._adapters)
        kept = [id(adapter) for adapter in adapters.values()]
        for adapter in self._adapters.values():
            if id(adapter) not in kept:
                keras_compat.untrack(self, adapter)
        self._adapters = adapters

    @property
    def adapters(self):
        """The feature adapters, `{term name: layer}` (trained, not exported)."""
        return dict(self._adapters)

    def _install_terms(self, terms, weights):
        """Creates one weight variable and one tracker per term."""
        for variable in self._term_weights:
            keras_compat.untrack(self, variable)
        for tracker in self._term_trackers:
            keras_compat.untrack(self, tracker)
        self._terms = terms
        self._term_weight_values = weights
        with replicas.strategy_scope(self):
            variables, trackers = self._new_term_state(terms, weights)
        self._term_weights = variables
        self._term_trackers = trackers
        for variable, weight in zip(variables, weights):
            if hyperparameter.is_schedule(weight):
                self._schedules[variable.name] = weight

    def _new_term_state(self, terms, weights):
        variables, trackers = [], []
        for term, weight in zip(terms, weights):
            start = hyperparameter.initial_value(weight, term.name)
            variables.append(
                keras.Variable(
                    float(start),
                    dtype="float32",
                    trainable=False,
                    name=f"{term.name}_weight",
                    aggregation="only_first_replica",
                )
            )
            if len(terms) > 1:
                trackers.append(keras.metrics.Mean(name=term.name))
        return variables, trackers

    @property
    def distillation_loss_fn(self):
        """The list of distillation terms, in order."""
        return list(self._terms)

    @property
    def distillation_loss_weights(self):
        """The weight variables of the distillation terms, in order."""
        return list(self._term_weights)

    def compile(
        self,
        optimizer="rmsprop",
        metrics=None,
        student_loss_fn=None,
        distillation_loss_fn=None,
        alpha=None,
        temperature=None,
        distillation_loss_weights=None,
        loss=None,
        loss_weights=None,
        auto_scale_loss=True,
        **kwargs,
    ):
        """Configures training. Losses, `alpha` and `temperature` given here
        override the constructor's; those left as `None` keep them.

        Args:
            optimizer: Optimizer name or instance.
            metrics: Metrics on the student's outputs, e.g. `["accuracy"]`.
            student_loss_fn: Loss on hard labels. `loss=` is an alias.
            distillation_loss_fn: Term, Keras loss, or list (see class doc).
            alpha: Weight of the student loss in [0, 1], or a schedule.
            temperature: Temperature > 0, or a schedule.
            distillation_loss_weights: One weight (or schedule) per term.
            loss: Alias of `student_loss_fn` (for `Model.compile` habits).
            loss_weights: One weight per output of a dict or list
                `student_loss_fn`; kept when neither is given here.
            auto_scale_loss: When True and any layer of the student uses the
                `"mixed_float16"` policy, the optimizer is wrapped in a
                `keras.optimizers.LossScaleOptimizer` (dynamic loss scaling).
            **kwargs: Passed to `keras.Model.compile` (`weighted_metrics`,
                `jit_compile`, `steps_per_execution`, `run_eagerly`, ...).
        """
        if loss is not None and student_loss_fn is not None:
            raise invalid_argument(
                "loss",
                loss,
                "None when `student_loss_fn` is given",
                "`loss` is an alias of `student_loss_fn`: pass only one.",
            )
        if loss is not None:
            student_loss_fn = loss
        hyper = self._hyperparameters
        if student_loss_fn is None and loss_weights is None:
            loss_weights = self.loss_weights
        self._configure(
            student_loss_fn=(
                student_loss_fn
                if student_loss_fn is not None
                else self._student_loss.loss_fn
            ),
            loss_weights=loss_weights,
            distillation_loss_fn=(
                distillation_loss_fn
                if distillation_loss_fn is not None
                else self._terms
            ),
            distillation_loss_weights=(
                distillation_loss_weights
                if distillation_loss_weights is not None
                else (
                    self._term_weight_values
                    if distillation_loss_fn is None
                    else None
                )
            ),
            alpha=hyper["alpha"] if alpha is None else alpha,
            temperature=(
                hyper["temperature"] if temperature is None else temperature
            ),
        )
        super().compile(
            optimizer=optimizer,
            metrics=metrics,
            auto_scale_loss=auto_scale_loss,
            **kwargs,
        )
        if (
            auto_scale_loss
            and _uses_float16(self.student)
            and not isinstance(
                self.optimizer, keras.optimizers.LossScaleOptimizer
            )
        ):
            self.optimizer = keras.optimizers.LossScaleOptimizer(
                self.optimizer, name="loss_scale_optimizer"
            )

    def get_compile_config(self):
        config = super().get_compile_config()
        if config is None:
            return None
        config.pop("loss", None)
        config.pop("loss_weights", None)
        config.update(self._loss_config())
        return config

    def compile_from_config(self, config):
        config = dict(config)
        optimizer = config.pop("optimizer", "rmsprop")
        config = self._deserialize_loss_config(config)
        other = _DESERIALIZE(
            {k: v for k, v in config.items() if k not in self._LOSS_KEYS}
        )
        losses = {k: v for k, v in config.items() if k in self._LOSS_KEYS}
        self.compile(optimizer=_DESERIALIZE(optimizer), **other, **losses)
        if self.built:
            self.optimizer.build(self.trainable_variables)

    # ------------------------------------------------------------------
    # Forward passes
    # ------------------------------------------------------------------

    def call(self, inputs, training=None):
        """The student's forward pass: the Distiller predicts as the student."""
        inputs, _ = teacher_cache.split_cached_inputs(inputs)
        return self.student(inputs, training=training)

    def _teacher_forward(self, x):
        """Teacher outputs and tapped layers by source name, from one pass
        in inference mode, outside any gradient."""
        if self._taps.extractors["teacher"] is None:
            return {
                OUTPUTS: teacher_lib.teacher_forward(
                    self._teacher_logits, x, self.temperature
                )
            }
        outputs = dict(self._taps.forward("teacher", x, training=False))
        outputs[OUTPUTS] = self._teacher_logits.to_logits(outputs[OUTPUTS])
        return keras.tree.map_structure(ops.stop_gradient, outputs)

    def _cached_teacher_forward(self, cached, student_logits):
        """Teacher outputs of a batch from `cache_teacher_outputs`."""
        outputs = teacher_cache.cached_teacher_logits(
            cached, self.temperature, student_logits, terms=self._terms
        )
        return {OUTPUTS: outputs}

    def _student_forward(self, x, training):
        """Student logits (`OUTPUTS`), predictions (`PREDICTIONS`: what the
        student returns) and tapped layers by source name, from one forward
        pass."""
        return self._taps.forward("student", x, training=training)

    # ------------------------------------------------------------------
    # Loss
    # ------------------------------------------------------------------

    def compute_loss(
        self,
        x=None,
        y=None,
        y_pred=None,
        sample_weight=None,
        training=True,
        teacher_outputs=None,
        student_outputs=None,
    ):
        """The loss of one step, shared by `train_step` and `test_step`.

        Without `teacher_outputs` (evaluation) this is the student loss
        alone. With them it is `alpha * student_loss + (1 - alpha) *
        distillation_loss`, or the distillation loss alone when `y` is
        `None`. Per-term values are written to the model's loss trackers.

        Returns:
            A float32 scalar, scaled for `tf.distribute` like Keras's own
            `compute_loss` (divided by the number of replicas).
        """
        has_labels = y is not None and bool(self._student_loss)
        batch_size = replicas.mean_batch_size(y_pred)
        zero = ops.zeros((), dtype="float32")
        student_loss = zero
        if has_labels:
            means = self._student_loss.values(y, y_pred, sample_weight)
            for tracker, mean in zip(self._student_output_trackers, means):
                tracker.update_state(mean, sample_weight=batch_size)
            student_loss = self._student_loss.total(means)
            self._student_loss_tracker.update_state(
                student_loss, sample_weight=batch_size
            )
        # The student's (and adapters') own losses, as keras.Model.fit adds
        # them: once, unweighted by alpha, in training and evaluation.
        regularization = student_loss_lib.regularization_loss(
            [self.student, *self._adapters.values()]
        )
        if teacher_outputs is None:
            return scale_loss_for_distribution(student_loss + regularization)

        if student_outputs is None:
            student_outputs = {OUTPUTS: y_pred}
        mask = get_keras_mask(student_outputs[OUTPUTS])
        distillation_loss = zero
        for index, term in enumerate(self._terms):
            value = terms_lib.term_value(
                term,
                teacher_outputs,
                student_outputs,
                adapter=self._adapters.get(term.name),
                temperature=self.temperature,
                y=y,
                sample_weight=sample_weight,
                mask=mask,
            )
            if self._term_trackers:
                self._term_trackers[index].update_state(
                    value, sample_weight=batch_size
                )
            distillation_loss += self._term_weights[index] * value
        self._distillation_loss_tracker.update_state(
            distillation_loss, sample_weight=batch_size
        )
        if has_labels:
            alpha = ops.cast(self.alpha, "float32")
            total = alpha * student_loss + (1.0 - alpha) * distillation_loss
        else:
            total = distillation_loss
        return scale_loss_for_distribution(total + regularization)

    # ------------------------------------------------------------------
    # Steps
    # ------------------------------------------------------------------

    def _update_scheduled_hyperparameters(self):
        """Assigns every scheduled variable its value at this step; an
        invalid value stops training (see `schedules/guard.py`)."""
        step = self.optimizer.iterations
        for name, schedule in self._schedules.items():
            variable = self.hyperparameter_variable(name)
            value = hyperparameter.scheduled_value(schedule, step)
            variable.assign(
                self._schedule_guard.validated(name, value, step, variable)
            )

    def fit(self, x=None, y=None, *args, **kwargs):
        """`keras.Model.fit`, after checks that no step runs without: empty
        data, string labels, NaN inputs, a stale teacher cache, a teacher
        that returns probabilities unannounced (`distiller/fit_checks.py`)."""
        batch_size = args[0] if args else kwargs.get("batch_size")
        fit_checks.check(self, x, y, batch_size=batch_size)
        return super().fit(x, y, *args, **kwargs)

    def train_on_batch(self, x, y=None, *args, **kwargs):
        """`keras.Model.train_on_batch`, after the checks of `fit` on the batch."""
        fit_checks.check(self, x, y, batch_size=len(keras.tree.flatten(x)[0]))
        return super().train_on_batch(x, y, *args, **kwargs)

    def make_train_function(self, force=False):
        """Keras's train function, wrapped by the backend's step module: an
        in-step schedule's invalid value raises a `ValueError`, and (JAX)
        values assigned by callbacks reach the next step."""
        if self.train_function is not None and not force:
            return self.train_function
        super().make_train_function(force=force)
        self.train_function = steps.wrap_train_function(self, self.train_function)
        return self.train_function

    def compute_metrics(self, x, y, y_pred, sample_weight=None):
        """Keras's metric results (used to build metrics before `fit` on JAX
        and PyTorch); without labels, compiled metrics are left out."""
        return self._metric_logs(y, y_pred, sample_weight)

    @property
    def hyperparameter_variables(self):
        """`temperature`, `alpha` and the term weights, as variables."""
        return [self.temperature, self.alpha, *self._term_weights]

    def hyperparameter_variable(self, name):
        """The variable named `name`: `"temperature"`, `"alpha"`, or a term
        weight such as `"kl_divergence_weight"`."""
        variables = self.hyperparameter_variables
        for variable in variables:
            if variable.name == name:
                return variable
        raise invalid_argument(
            "name",
            name,
            f"one of {[variable.name for variable in variables]}",
        )

    def train_step(self, *args):
        """One training step, run by the backend's step module (see
        `distiller/steps/`): `(data)` on TensorFlow and PyTorch, `(state,
        data)` on JAX. Each only differentiates the shared loss path below."""
        return steps.train_step(self, *args)

    def test_step(self, *args):
        """One evaluation step: the student alone, no teacher."""
        return steps.test_step(self, *args)

    def _begin_train_step(self, data):
        """Everything of a train step before the student runs: unpacks the
        batch, sets scheduled hyperparameters, runs the teacher (unless the
        batch carries cached teacher outputs).

        Returns:
            `(x, y, sample_weight, (teacher_outputs, cached))`: one of the
            last two is None.
        """
        x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
        x, cached = teacher_cache.split_cached_inputs(x)
        self._update_scheduled_hyperparameters()
        teacher_outputs = None if cached is not None else self._teacher_forward(x)
        return x, y, sample_weight, (teacher_outputs, cached)

    def _train_loss(self, x, y, sample_weight, teacher):
        """The differentiated part of a train step: the student's forward
        pass and the loss, scaled by the optimizer (for loss scaling).

        Args:
            teacher: `(teacher_outputs, cached)` from `_begin_train_step`;
                a cached batch's teacher outputs are decoded here, against
                the student's outputs.

        Returns:
            `(scaled_loss, y_pred)`.
        """
        teacher_outputs, cached = teacher
        student_outputs = self._student_forward(x, training=True)
        y_pred = student_outputs[PREDICTIONS]
        if cached is not None:
            teacher_outputs = self._cached_teacher_forward(
                cached, student_outputs[OUTPUTS]
            )
        loss = self.compute_loss(
            x=x,
            y=y,
            y_pred=y_pred,
            sample_weight=sample_weight,
            training=True,
            teacher_outputs=teacher_outputs,
            student_outputs=student_outputs,
        )
        self._track_total_loss(loss, y_pred)
        return self.optimizer.scale_loss(loss), y_pred

    def _train_logs(self, y, y_pred, sample_weight):
        """The logs of a train step, after the weights were updated (a NaN
        `loss` when the student's outputs or weights are not finite)."""
        finite.mark_loss(
            keras_compat.loss_tracker(self),
            finite.all_finite([*keras.tree.flatten(y_pred), *self.trainable_weights]),
        )
        logs = self._metric_logs(y, y_pred, sample_weight)
        logs["temperature"] = ops.convert_to_tensor(self.temperature)
        logs["alpha"] = ops.convert_to_tensor(self.alpha)
        return replicas.step_logs(logs)

    def _test_logs(self, data):
        """The body of `test_step`, shared by every backend."""
        x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
        y_pred = self(x, training=False)
        loss = self.compute_loss(
            x=x, y=y, y_pred=y_pred, sample_weight=sample_weight, training=False
        )
        self._track_total_loss(loss, y_pred)
        logs = self._metric_logs(
            y,
            y_pred,
            sample_weight,
            exclude=[self._distillation_loss_tracker, *self._term_trackers],
        )
        return replicas.step_logs(logs)

    def _track_total_loss(self, loss, y_pred):
        keras_compat.loss_tracker(self).update_state(
            unscale_loss_for_distribution(loss),
            sample_weight=replicas.mean_batch_size(y_pred),
        )

    def _metric_logs(self, y, y_pred, sample_weight, exclude=()):
        """Results of this step's metrics. Without labels, nothing that needs
        labels (student loss, compiled metrics) is logged."""
        exclude = list(exclude)
        compile_metrics = keras_compat.compile_metrics(self)
        if y is None:
            exclude += [
                self._student_loss_tracker,
                *self._student_output_trackers,
                compile_metrics,
            ]
        elif compile_metrics is not None:
            compile_metrics.update_state(y, y_pred, sample_weight)
        return self._metric_results(exclude)

    def get_metrics_result(self):
        return self._metric_results()

    def _metric_results(self, exclude=()):
        logs = {}
        for metric in self.metrics:
            if any(metric is other for other in exclude):
                continue
            if not getattr(metric, "built", True):
                continue  # Compiled metrics never fed (no labels so far).
            result = metric.result()
            if isinstance(result, dict):
                logs.update(result)
            else:
                logs[metric.name] = result
        return logs

    def _maybe_symbolic_build(self, iterator=None, data_batch=None):
        # Works around keras-team/keras#20585 (fit under
        # MultiWorkerMirroredStrategy); see replicas.first_local_batch.
        strategy = keras_compat.distribute_strategy(self)
        if iterator is not None and replicas.is_multi_worker(strategy):
            data_batch = replicas.first_local_batch(strategy, iterator)
            iterator = None
        return super()._maybe_symbolic_build(
            iterator=iterator, data_batch=data_batch
        )

    # ------------------------------------------------------------------
    # Serialization
    # ------------------------------------------------------------------

    _LOSS_KEYS = (
        "student_loss_fn",
        "loss_weights",
        "distillation_loss_fn",
        "distillation_loss_weights",
        "alpha",
        "temperature",
    )

    def _loss_config(self):
        return {
            **self._student_loss.get_config(),
            "distillation_loss_fn": [_SERIALIZE(t) for t in self._terms],
            "distillation_loss_weights": [
                hyperparameter.serialize(w) for w in self._term_weight_values
            ],
            "alpha": hyperparameter.serialize(self._hyperparameters["alpha"]),
            "temperature": hyperparameter.serialize(
                self._hyperparameters["temperature"]
            ),
        }

    @staticmethod
    def _deserialize_loss_config(config):
        config = copy.deepcopy(config)  # Keras deserialization mutates dicts.
        if config.get("student_loss_fn") is not None:
            config["student_loss_fn"] = student_loss_lib.deserialize(
                config["student_loss_fn"]
            )
        if config.get("distillation_loss_fn") is not None:
            config["distillation_loss_fn"] = [
                _DESERIALIZE(t) for t in config["distillation_loss_fn"]
            ]
        if config.get("distillation_loss_weights") is not None:
            config["distillation_loss_weights"] = [
                hyperparameter.deserialize(w)
                for w in config["distillation_loss_weights"]
            ]
        for key in ("alpha", "temperature"):
            if key in config:
                config[key] = hyperparameter.deserialize(config[key])
        return config

    def get_config(self):
        config = {
            "name": self.name,
            "trainable": self.trainable,
            "teacher": _SERIALIZE(self.teacher),
            "student": _SERIALIZE(self.student),
            "teacher_outputs": self.teacher_outputs,
        }
        config.update(self._loss_config())
        return config

    @classmethod
    def from_config(cls, config, custom_objects=None):
        config = cls._deserialize_loss_config(config)
        for key in ("teacher", "student"):
            config[key] = _DESERIALIZE(
                config[key], custom_objects=custom_objects
            )
        return cls(**config)
