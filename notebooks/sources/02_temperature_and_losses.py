# %% [markdown]
# # Temperature, alpha and the choice of loss
#
# Three knobs decide what a distilled student learns:
#
# - the **temperature** `T`, which softens the teacher's probabilities so
#   that its small ones ("a bit like a pullover") carry weight;
# - **alpha**, the weight of the hard-label loss (`1 - alpha` goes to the
#   teacher);
# - the **distillation loss** itself.
#
# This notebook shows what each does, how to change `T` and `alpha` during
# training (schedules and callbacks), and compares the losses on the same
# teacher and student.

# %% [markdown]
# ## A teacher

# %%
teacher = classifier(TEACHER_WIDTH, "teacher")
train_from_scratch(teacher)
print(f"teacher test accuracy {accuracy(teacher):.4f}")

# %% [markdown]
# ## What the temperature does
#
# The teacher's probabilities for one test image, `softmax(logits / T)`.
# At `T = 1` almost all the mass sits on one class; as `T` grows, the
# ranking of the other classes, the "dark knowledge", becomes visible.

# %%
TEMPERATURES = [1, 2, 4, 8]
teacher_logits = teacher.predict(x_test[:1], verbose=0)[0]
figure, axis = plt.subplots(figsize=(10, 3.2))
for offset, temperature in enumerate(TEMPERATURES):
    probabilities = keras.ops.convert_to_numpy(keras.ops.softmax(teacher_logits / temperature))
    positions = np.arange(10) + 0.2 * offset - 0.3
    axis.bar(positions, probabilities, width=0.2, label=f"T = {temperature}")
axis.set_xticks(np.arange(10), class_names)
axis.set(ylabel="teacher probability", title=f"True class: {class_names[y_test[0]]}")
axis.legend()
plt.show()

# %% [markdown]
# ## Distilling with different settings
#
# `distill` trains a fresh student from the same initial weights each time,
# so runs differ only in their settings. Everything it passes to
# `Distiller.compile` can be overridden: `temperature`, `alpha`,
# `distillation_loss_fn`, ...

# %%
initial_weights = classifier(STUDENT_WIDTH, "student").get_weights()
STEPS_PER_EPOCH = -(-len(x_train) // BATCH_SIZE)


def distill(label, callbacks=(), **settings):
    """Distills a fresh student from `teacher`; returns the `History`."""
    student = classifier(STUDENT_WIDTH, "student")
    student.set_weights(initial_weights)
    distiller = kd.Distiller(teacher=teacher, student=student)
    distiller.compile(
        optimizer=keras.optimizers.Adam(LEARNING_RATE),
        metrics=["accuracy"],
        student_loss_fn=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        **{"alpha": 0.1, "temperature": 4.0, **settings},
    )
    history = distiller.fit(
        x_train, y_train, validation_data=(x_test, y_test), epochs=EPOCHS,
        batch_size=BATCH_SIZE, callbacks=list(callbacks), verbose=0,
    )  # fmt: skip
    print(f"{label:<36} test accuracy {history.history['val_accuracy'][-1]:.4f}")
    return history


# %% [markdown]
# ### Temperature
#
# A fixed temperature for the whole run, from `T = 1` (plain soft labels) up.
# On MNIST, Hinton et al. found any `T` above 8 about as good for large
# students, but 2.5 to 4 clearly best for a small one; 4 is a common
# default for image classifiers.

# %%
SWEEP = [1.0, 4.0] if SMALL else [1.0, 2.0, 4.0, 8.0, 16.0]
sweep = {temperature: distill(f"T = {temperature:g}", temperature=temperature)
         for temperature in SWEEP}  # fmt: skip
figure, axis = plt.subplots(figsize=(5, 3.2))
axis.plot(SWEEP, [sweep[t].history["val_accuracy"][-1] for t in SWEEP], marker="o")
axis.set(xscale="log", xlabel="temperature T", ylabel="student test accuracy")
axis.set_xticks(SWEEP, [f"{t:g}" for t in SWEEP])
plt.show()

# %% [markdown]
# ## Schedules: changing T and alpha during training
#
# Both are `keras.Variable`s inside the Distiller, so a new value takes
# effect at the next step without retracing. Two ways to change them:
#
# 1. **In the step**: pass a schedule `step -> value` instead of a float.
#    `kd.schedules` re-exports Keras's schedules (`CosineDecay`,
#    `PiecewiseConstantDecay`, ...); any function of the step works too. The
#    value is computed from `optimizer.iterations` inside the train step and
#    saved with the model.
# 2. **From a callback**: `kd.callbacks.TemperatureScheduler`,
#    `AlphaScheduler` (and `HyperparameterScheduler` for term weights) follow
#    `keras.callbacks.LearningRateScheduler`: `schedule(epoch)` or
#    `schedule(epoch, current)`, or per step with `update="batch"`.
#
# Here the temperature anneals from 8 to 1 with a cosine over the whole run
# (soft targets first, sharp ones at the end), while a callback raises
# `alpha`, the weight of the true labels, from 0 to 0.5 epoch by epoch.

# %%
total_steps = EPOCHS * STEPS_PER_EPOCH
cosine_temperature = kd.schedules.CosineDecay(8.0, decay_steps=total_steps, alpha=1 / 8)
alpha_ramp = kd.callbacks.AlphaScheduler(lambda epoch: 0.5 * epoch / max(1, EPOCHS - 1))


class RecordPerStep(keras.callbacks.Callback):
    """Keeps `temperature` and `alpha` as logged after every training step."""

    def on_train_begin(self, logs=None):
        self.values = {"temperature": [], "alpha": []}

    def on_train_batch_end(self, batch, logs=None):
        for name, values in self.values.items():
            values.append(float(logs[name]))


recorder = RecordPerStep()
scheduled = distill("T: cosine 8 -> 1, alpha: 0 -> 0.5", callbacks=[alpha_ramp, recorder],
                    temperature=cosine_temperature)  # fmt: skip

figure, (left, right) = plt.subplots(1, 2, figsize=(11, 3.2))
left.plot(recorder.values["temperature"], color="tab:blue")
left.set(xlabel="training step", title="Logged after each step")
left.set_ylabel("temperature (in-step schedule)", color="tab:blue")
alpha_axis = left.twinx()
alpha_axis.plot(recorder.values["alpha"], color="tab:orange")
alpha_axis.set_ylabel("alpha (AlphaScheduler)", color="tab:orange")
for label, history in [("fixed T = 4, alpha = 0.1", sweep[4.0]), ("scheduled", scheduled)]:
    curve = history.history["val_accuracy"]
    right.plot(range(1, len(curve) + 1), curve, marker="o", label=label)
right.set(xlabel="epoch", ylabel="test accuracy", title="Student", xticks=range(1, EPOCHS + 1))
right.legend()
plt.show()

# %% [markdown]
# `History` also records the values at the end of each epoch
# (`history.history["temperature"]`, `["alpha"]`), and so do `CSVLogger`
# and `TensorBoard` when listed after the schedulers.

# %%
print({name: np.round(scheduled.history[name], 3).tolist() for name in ("temperature", "alpha")})

# %% [markdown]
# ## Choosing a loss
#
# `distillation_loss_fn` takes any `kd.losses` term. Three that distill
# class predictions, each computed in float32 with the `T²` factor inside:
#
# | loss | idea | use when |
# |---|---|---|
# | `KLDivergence` | Hinton et al., 2015: match the softened distributions | the default |
# | `DKD(alpha=1, beta=8)` | Zhao et al., 2022: weigh the target class (TCKD) and the ranking of the other classes (NCKD) separately | a confident teacher; needs labels |
# | `DIST(beta=1, gamma=1)` | Huang et al., 2022: match the *correlation* of predictions across classes and across the batch, not their values | a teacher much stronger than the student |
#
# DKD's authors warm its weight up linearly; a schedule as the term's
# weight does that (here over the first epoch). The KL run is the `T = 4`
# run from the sweep above.

# %%
warm_up = kd.schedules.PolynomialDecay(0.0, decay_steps=STEPS_PER_EPOCH, end_learning_rate=1.0)
by_loss = {
    "KL": sweep[4.0],
    "DKD": distill("DKD (alpha=1, beta=8), warm-up", distillation_loss_fn=kd.losses.DKD(),
                   distillation_loss_weights=[warm_up]),
    "DIST": distill("DIST (beta=1, gamma=1)", distillation_loss_fn=kd.losses.DIST()),
}  # fmt: skip

figure, (left, right) = plt.subplots(1, 2, figsize=(11, 3.2))
for label, history in by_loss.items():
    curve = history.history["val_accuracy"]
    left.plot(range(1, len(curve) + 1), curve, marker="o", label=label)
    right.bar(label, curve[-1])
left.set(xlabel="epoch", ylabel="test accuracy", title="Student", xticks=range(1, EPOCHS + 1))
left.legend()
final = [history.history["val_accuracy"][-1] for history in by_loss.values()]
right.set(ylabel="final test accuracy", ylim=(min(final) - 0.05, min(1.0, max(final) + 0.02)))
plt.show()

# %% [markdown]
# Which loss wins depends on the pair of models and the data: measure on
# yours. The README's *Losses* section lists the others (reverse KL,
# Jensen-Shannon, logit MSE, ...) and when each is used; several terms can
# be combined with weights (`distillation_loss_fn=[...]`,
# `distillation_loss_weights=[...]`), as `03_feature_distillation.ipynb`
# does with feature terms.
