"""The Distiller: a `keras.Model` that trains a student from a frozen teacher.

The concerns it hands on, in the order data flows through a step:
`configuration` (what `__init__`/`compile` install), `hyperparameters`
(temperature, alpha, term weights), `fit_checks` (before any step),
`steps/` (the backend's train step), `forward` (teacher, then student),
`objective` (the loss), `logs`, `serialization`.
"""

import keras

from keras_distill.src.distiller import configuration
from keras_distill.src.distiller import fit_checks
from keras_distill.src.distiller import forward
from keras_distill.src.distiller import hyperparameters
from keras_distill.src.distiller import logs
from keras_distill.src.distiller import objective
from keras_distill.src.distiller import on_policy as on_policy_lib
from keras_distill.src.distiller import replicas
from keras_distill.src.distiller import serialization
from keras_distill.src.distiller import steps
from keras_distill.src.distiller import text_inputs
from keras_distill.src.schedules.guard import ScheduleGuard
from keras_distill.src.teachers import cached as teacher_cache
from keras_distill.src.teachers import teacher as teacher_lib
from keras_distill.src.utils import keras_compat
from keras_distill.src.utils.errors import invalid_argument


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

    NaN: `keras.callbacks.TerminateOnNaN()` stops at the step's NaN `loss`.

    Args:
        teacher: The trained teacher, frozen: a Keras model, a
            `keras.layers.TFSMLayer`, a plain callable `inputs -> logits`, a
            list of them (a `keras_distill.teachers.Ensemble`), a dict
            `{output_name: teacher}`, one per student output (a `MultiTask`),
            or `None` to train from `keras_distill.cache_teacher_outputs`.
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
        on_policy: A `keras_distill.OnPolicy`: a fraction of the batches
            trains on the student's own samples (KerasHub `CausalLM`s).
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
        on_policy=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        configuration.check_model(student, "student")
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
        self.temperature = hyperparameters.new_variable("temperature", 1.0)
        self.alpha = hyperparameters.new_variable("alpha")
        self._given = {}
        self._term_weights = []
        self._term_trackers = []
        self._student_output_trackers = []
        self._schedule_guard = ScheduleGuard()
        self._taps = None
        self._adapters = {}
        self._student_loss_tracker = keras.metrics.Mean(name="student_loss")
        self._distillation_loss_tracker = keras.metrics.Mean(name="distillation_loss")
        configuration.configure(
            self, student_loss_fn=student_loss_fn, loss_weights=loss_weights,
            distillation_loss_fn=distillation_loss_fn,
            distillation_loss_weights=distillation_loss_weights,
            alpha=alpha, temperature=temperature,
        )
        on_policy_lib.configure(self, on_policy)
        self.built = True

    def _lock_state(self):  # compile() may add state (weights, trackers) after a call.
        pass

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
        on_policy=None,
        **kwargs,
    ):
        """Configures training. Losses, `alpha` and `temperature` given here
        override the constructor's; those left as `None` keep them.

        Args:
            optimizer: Optimizer name or instance.
            metrics: Metrics on the student's outputs, e.g. `["accuracy"]`.
            student_loss_fn, distillation_loss_fn, alpha, temperature,
                distillation_loss_weights, loss_weights, on_policy: As in the
                class.
            loss: Alias of `student_loss_fn` (for `Model.compile` habits).
            auto_scale_loss: When True and any layer of the student uses the
                `"mixed_float16"` policy, the optimizer is wrapped in a
                `keras.optimizers.LossScaleOptimizer` (dynamic loss scaling).
            **kwargs: Passed to `keras.Model.compile` (`weighted_metrics`,
                `jit_compile`, `steps_per_execution`, `run_eagerly`, ...).
        """
        configuration.configure(
            self,
            **configuration.compile_arguments(
                self,
                student_loss_fn=student_loss_fn,
                loss=loss,
                loss_weights=loss_weights,
                distillation_loss_fn=distillation_loss_fn,
                distillation_loss_weights=distillation_loss_weights,
                alpha=alpha,
                temperature=temperature,
            ),
        )
        if on_policy is not None:
            on_policy_lib.configure(self, on_policy)
        super().compile(
            optimizer=optimizer, metrics=metrics, auto_scale_loss=auto_scale_loss, **kwargs
        )
        if (
            auto_scale_loss
            and configuration.uses_float16(self.student)
            and not isinstance(self.optimizer, keras.optimizers.LossScaleOptimizer)
        ):
            self.optimizer = keras.optimizers.LossScaleOptimizer(
                self.optimizer, name="loss_scale_optimizer"
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

    @property
    def distillation_loss_fn(self):
        """The list of distillation terms, in order."""
        return list(self._terms)

    @property
    def distillation_loss_weights(self):
        """The weight variables of the distillation terms, in order."""
        return list(self._term_weights)

    @property
    def adapters(self):
        """The feature adapters, `{term name: layer}` (trained, not exported)."""
        return dict(self._adapters)

    @property
    def hyperparameter_variables(self):
        """`temperature`, `alpha` and the term weights, as variables."""
        return hyperparameters.variables(self)

    def hyperparameter_variable(self, name):
        """The variable named `name`: `"temperature"`, `"alpha"`, or a term
        weight such as `"kl_divergence_weight"`."""
        return hyperparameters.variable(self, name)

    @property
    def _schedules(self):  # `{variable name: schedule}` of the scheduled ones.
        return hyperparameters.schedules(self)

    def call(self, inputs, training=None):
        """The student's forward pass: the Distiller predicts as the student."""
        inputs, _ = teacher_cache.split_cached_inputs(inputs)
        return self.student(inputs, training=training)

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
        `None`; the student's own losses are added to both
        (`distiller/objective.py`). Per-term values are written to the
        model's loss trackers.

        Returns:
            A float32 scalar, scaled for `tf.distribute` like Keras's own
            `compute_loss` (divided by the number of replicas).
        """
        return objective.total_loss(
            self, y, y_pred, sample_weight, teacher_outputs, student_outputs
        )

    def fit(self, x=None, y=None, *args, **kwargs):
        """`keras.Model.fit`, raw text through the student's preprocessor
        (`distiller/text_inputs.py`), after checks that no step runs without:
        empty data, string labels, NaN inputs, a stale teacher cache, a
        teacher that returns probabilities unannounced (`fit_checks.py`)."""
        x, y, args, kwargs = text_inputs.prepare(self, x, y, args, kwargs, training=True)
        batch_size = args[0] if args else kwargs.get("batch_size")
        fit_checks.check(self, x, y, batch_size=batch_size)
        return super().fit(x, y, *args, **kwargs)

    def evaluate(self, x=None, y=None, *args, **kwargs):  # Raw text as in `fit`.
        x, y, args, kwargs = text_inputs.prepare(self, x, y, args, kwargs)
        return super().evaluate(x, y, *args, **kwargs)

    def predict(self, x, *args, **kwargs):  # Raw text as in `fit`.
        x, _, args, kwargs = text_inputs.prepare(self, x, None, args, kwargs)
        return super().predict(x, *args, **kwargs)

    def train_on_batch(self, x, y=None, *args, **kwargs):
        """`keras.Model.train_on_batch`, after the checks of `fit` on the batch."""
        fit_checks.check(self, x, y, batch_size=len(keras.tree.flatten(x)[0]))
        return super().train_on_batch(x, y, *args, **kwargs)

    def make_train_function(self, force=False):
        """Keras's train function, wrapped by the backend's step module (an
        invalid scheduled value raises; on JAX, callbacks' values reach the next step)."""
        if self.train_function is not None and not force:
            return self.train_function
        super().make_train_function(force=force)
        self.train_function = steps.wrap_train_function(self, self.train_function)
        return self.train_function

    def train_step(self, *args):
        """One training step, run by the backend's step module (`steps/`):
        `(data)`, or `(state, data)` on JAX. Only `_train_loss` is differentiated."""
        return steps.train_step(self, *args)

    def test_step(self, *args):
        """One evaluation step: the student alone, no teacher."""
        return steps.test_step(self, *args)

    # The parts of a step the backends' step modules call (forward.py, logs.py).

    def _begin_train_step(self, data):
        return forward.begin_train_step(self, data)

    def _train_loss(self, x, y, sample_weight, teacher):
        return forward.train_loss(self, x, y, sample_weight, teacher)

    def _train_logs(self, y, y_pred, sample_weight):
        return logs.train_logs(self, y, y_pred, sample_weight)

    def _test_logs(self, data):
        return logs.test_logs(self, data)

    # Where the models' outputs come from (a subclass may read them elsewhere).

    def _teacher_forward(self, x):
        return forward.teacher_outputs(self, x)

    def _cached_teacher_forward(self, cached, student_logits):
        return forward.cached_teacher_outputs(self, cached, student_logits)

    def _student_forward(self, x, training):
        return forward.student_outputs(self, x, training)

    def compute_metrics(self, x, y, y_pred, sample_weight=None):
        """Keras's metric results (used to build metrics before `fit` on JAX
        and PyTorch); without labels, compiled metrics are left out."""
        return logs.metric_logs(self, y, y_pred, sample_weight)

    def get_metrics_result(self):
        return logs.python_results(self)

    def _maybe_symbolic_build(self, iterator=None, data_batch=None):
        # Works around keras-team/keras#20585 (fit under
        # MultiWorkerMirroredStrategy); see replicas.first_local_batch.
        strategy = keras_compat.distribute_strategy(self)
        if iterator is not None and replicas.is_multi_worker(strategy):
            data_batch = replicas.first_local_batch(strategy, iterator)
            iterator = None
        return super()._maybe_symbolic_build(iterator=iterator, data_batch=data_batch)

    # Serialization (`distiller/serialization.py`).

    def get_config(self):
        return serialization.get_config(self, super().get_config())

    @classmethod
    def from_config(cls, config, custom_objects=None):
        with serialization.loading():
            return cls(**serialization.from_config(config, custom_objects))

    def get_compile_config(self):
        return serialization.compile_config(self, super().get_compile_config())

    def compile_from_config(self, config):
        with serialization.loading():
            self.compile(**serialization.compile_arguments(config))
        if self.built:
            self.optimizer.build(self.trainable_variables)
