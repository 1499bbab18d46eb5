# %% [markdown]
# # Feature distillation: match what the teacher computes inside
#
# Logit distillation shows the student the teacher's answers. Feature
# distillation also shows it the teacher's intermediate representations:
# FitNets hints (Romero et al., 2015) regress a teacher layer from a student
# layer through a small learned *adapter*; attention transfer (Zagoruyko &
# Komodakis, 2017) matches *where* a layer is active, whatever its width.
#
# This notebook picks the layers, shows the adapters the Distiller builds,
# combines several terms with weights (one of them scheduled) and compares
# the result with logit-only distillation.

# %% [markdown]
# ## A teacher

# %%
teacher = classifier(TEACHER_WIDTH, "teacher")
train_from_scratch(teacher)
print(f"teacher test accuracy {accuracy(teacher):.4f}")

# %% [markdown]
# ## Picking layers
#
# Teacher and student share their structure, so each teacher layer has a
# student counterpart with the same spatial size and fewer channels. Good
# pairs sit at the same depth and resolution: here the last feature maps
# (`conv2`) and the embedding before the classifier (`features`). Layers
# are named by `name` (or by a path such as `"backbone/conv3"` inside
# nested models); a name that does not exist is an error at construction.

# %%
student = classifier(STUDENT_WIDTH, "student")
initial_weights = student.get_weights()
print(f"{'layer':<10}{'teacher output':>20}{'student output':>20}")
for teacher_layer, student_layer in zip(teacher.layers, student.layers):
    teacher_shape, student_shape = teacher_layer.output.shape[1:], student_layer.output.shape[1:]
    print(f"{teacher_layer.name:<10}{str(teacher_shape):>20}{str(student_shape):>20}")

# %% [markdown]
# ## Several terms, each with a weight
#
# - `KLDivergence` on the logits, as in classic distillation;
# - `Hint` from the student's embedding (`features`) to the teacher's: the
#   widths differ, so the Distiller adds an adapter, a `Dense` projection
#   from the student's units to the teacher's, trained with the student
#   (for feature maps it would be a 1x1 convolution);
# - `AttentionTransfer` on the last feature maps (`conv2`): it compares
#   normalized spatial attention maps, so the widths may differ and no
#   adapter is needed. Its values are small; the paper weighs it by 500.
#
# `distillation_loss_weights` gives one weight per term; like `temperature`
# and `alpha`, each may be a schedule. FitNets trains the hint first and the
# logits after; a `PiecewiseConstantDecay` weight gets close to that in one
# run: the hint counts for the first half of training, then drops to 0.

# %%
steps_per_epoch = -(-len(x_train) // BATCH_SIZE)
hint_first_half = kd.schedules.PiecewiseConstantDecay(
    [EPOCHS * steps_per_epoch // 2], [1.0, 0.0]
)
terms = [
    kd.losses.KLDivergence(),
    kd.losses.Hint(teacher_layer="features", student_layer="features"),
    kd.losses.AttentionTransfer(teacher_layer="conv2", student_layer="conv2"),
]
distiller = kd.Distiller(
    teacher=teacher,
    student=student,
    distillation_loss_fn=terms,
    distillation_loss_weights=[1.0, hint_first_half, 500.0],
)
distiller.compile(
    optimizer=keras.optimizers.Adam(LEARNING_RATE),
    metrics=["accuracy"],
    student_loss_fn=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    alpha=0.1,
    temperature=4.0,
)
for name, adapter in distiller.adapters.items():
    kernel = adapter.projection.kernel
    print(f"adapter for {name!r}: {type(adapter.projection).__name__}, kernel {kernel.shape}")

# %% [markdown]
# The adapter belongs to the Distiller, not to the student: it is trained
# with the student and saved in the Distiller's `.keras` file, but the
# student keeps exactly its own weights, and `kd.export_student` writes the
# student alone.

# %%
history = distiller.fit(
    x_train, y_train, validation_data=(x_test, y_test),
    epochs=EPOCHS, batch_size=BATCH_SIZE, verbose=2,
)  # fmt: skip
print(f"student parameters: {distiller.student.count_params():,} "
      f"(adapters add {sum(a.count_params() for a in distiller.adapters.values()):,}, "
      "outside the student)")  # fmt: skip

# %% [markdown]
# Each term is logged under its name (its value before weighting), next to
# `student_loss` and the weighted sum `distillation_loss`. The hint's
# weight drops to 0 halfway through (dashed line); from then on nothing
# holds the student's embedding to the teacher's, and the hint drifts.

# %%
names = [term.name for term in terms]
figure, axes = plt.subplots(1, len(names), figsize=(4 * len(names), 3))
for axis, name in zip(axes, names):
    curve = history.history[name]
    axis.plot(range(1, len(curve) + 1), curve, marker="o")
    axis.set(title=name, xlabel="epoch", xticks=range(1, len(curve) + 1))
axes[names.index("hint")].axvline(EPOCHS / 2 + 0.5, color="gray", linestyle="--")
plt.tight_layout()
plt.show()

# %% [markdown]
# ## Compared with logit-only distillation and with training from scratch
#
# The same student, from the same initial weights, distilled with the
# logits alone, and trained on the labels alone.

# %%
logits_only = classifier(STUDENT_WIDTH, "student_logits_only")
logits_only.set_weights(initial_weights)
logits_distiller = kd.Distiller(teacher=teacher, student=logits_only)
logits_distiller.compile(
    optimizer=keras.optimizers.Adam(LEARNING_RATE),
    student_loss_fn=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    alpha=0.1,
    temperature=4.0,
)
logits_distiller.fit(x_train, y_train, epochs=EPOCHS, batch_size=BATCH_SIZE, verbose=0)

scratch = classifier(STUDENT_WIDTH, "student_from_scratch")
scratch.set_weights(initial_weights)
train_from_scratch(scratch)

results = {
    "teacher": accuracy(teacher),
    "from scratch": accuracy(scratch),
    "logits only (KL)": accuracy(logits_only),
    "KL + hint + attention": accuracy(distiller.student),
}
for label, value in results.items():
    print(f"{label:<24} test accuracy {value:.4f}")

# %% [markdown]
# ## What attention transfer matched
#
# Attention maps of `conv2` (the mean of squared activations over channels)
# for a few test images: the teacher's, the feature-distilled student's, and
# the logit-only student's.


# %%
def attention_maps(model, images):
    """Normalized spatial attention of `model`'s `conv2` layer, `(n, h, w)`."""
    extractor = keras.Model(model.inputs, model.get_layer("conv2").output)
    maps = np.mean(np.square(extractor.predict(images, verbose=0)), axis=-1)
    return maps / np.linalg.norm(maps.reshape(len(maps), -1), axis=-1)[:, None, None]


images = x_test[:4]
rows = {
    "image": images[..., 0],
    "teacher": attention_maps(teacher, images),
    "KL + features": attention_maps(distiller.student, images),
    "KL only": attention_maps(logits_only, images),
}
figure, axes = plt.subplots(len(rows), len(images), figsize=(2 * len(images), 2 * len(rows)))
for row, (label, maps) in zip(axes, rows.items()):
    for axis, picture in zip(row, maps):
        axis.imshow(picture, cmap="gray_r" if label == "image" else "magma")
        axis.set_xticks([])
        axis.set_yticks([])
    row[0].set_ylabel(label)
plt.show()
