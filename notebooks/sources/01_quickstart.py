# %% [markdown]
# # Quickstart: distill a small CNN and put it on a phone
#
# Knowledge distillation trains a small *student* to match the softened
# predictions of a large, trained *teacher* (Hinton et al., 2015,
# [arXiv:1503.02531](https://arxiv.org/abs/1503.02531)). The teacher's wrong
# answers carry information ("this shirt looks a bit like a pullover, not at
# all like a boot") that hard labels do not.
#
# This notebook walks the whole path once: train a teacher, train the same
# student twice (from scratch, and distilled from the teacher), compare
# them, with all labels and with few, and export the distilled student to
# TensorFlow Lite.

# %% [markdown]
# A few training images and their labels:

# %%
figure, axes = plt.subplots(1, 10, figsize=(12, 1.8))
for axis, image, label in zip(axes, x_train, y_train):
    axis.imshow(image[..., 0], cmap="gray_r")
    axis.set_title(class_names[label], fontsize=9)
    axis.axis("off")
plt.show()

# %% [markdown]
# ## 1. The teacher
#
# A wide CNN trained on the labels as usual. Any trained Keras model can be a
# teacher; the Distiller freezes it and only ever runs it in inference mode.

# %%
teacher = classifier(TEACHER_WIDTH, "teacher")
teacher_history = train_from_scratch(teacher)
print(f"teacher: {teacher.count_params():,} parameters, test accuracy {accuracy(teacher):.4f}")

# %% [markdown]
# ## 2. The student, trained from scratch
#
# The baseline distillation has to beat: the narrow CNN trained on the labels
# alone. The distilled student below starts from the same initial weights,
# so the only difference is the teacher.

# %%
student = classifier(STUDENT_WIDTH, "student")
student_initial_weights = student.get_weights()
scratch = classifier(STUDENT_WIDTH, "student_from_scratch")
scratch.set_weights(student_initial_weights)
scratch_history = train_from_scratch(scratch)
print(f"student: {scratch.count_params():,} parameters, "
      f"test accuracy from scratch {accuracy(scratch):.4f}")  # fmt: skip

# %% [markdown]
# ## 3. Distill
#
# `kd.Distiller` is a `keras.Model`: compile it, then `fit` as usual. Each
# step runs the teacher once (outside the gradient tape) and minimizes
#
# `alpha * CE(y, student) + (1 - alpha) * T² · KL(softmax(teacher / T) ‖ softmax(student / T))`
#
# `temperature` (`T`) softens both distributions so the small probabilities
# matter; the `T²` factor keeps the gradient scale independent of `T`.
# `alpha=0.1` puts most of the weight on the teacher.

# %%
distiller = kd.Distiller(teacher=teacher, student=student)
distiller.compile(
    optimizer=keras.optimizers.Adam(LEARNING_RATE),
    metrics=["accuracy"],
    student_loss_fn=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    alpha=0.1,
    temperature=4.0,
)
history = distiller.fit(
    x_train, y_train, validation_data=(x_test, y_test),
    epochs=EPOCHS, batch_size=BATCH_SIZE, verbose=2,
)  # fmt: skip

# %% [markdown]
# `fit` logs the total `loss`, its two parts (`student_loss`,
# `distillation_loss`), `temperature`, `alpha` and your metrics.
# `evaluate` and `predict` run the student alone: the teacher never runs
# outside training.

# %%
results = distiller.evaluate(x_test, y_test, return_dict=True, verbose=0)
print({name: round(value, 4) for name, value in results.items()})

# %% [markdown]
# ## 4. Compare

# %%
rows = [
    ("teacher", teacher, teacher_history.history["val_accuracy"]),
    ("student from scratch", scratch, scratch_history.history["val_accuracy"]),
    ("student distilled", distiller.student, history.history["val_accuracy"]),
]
print(f"{'model':<22}{'parameters':>12}{'test accuracy':>16}")
for label, model, _ in rows:
    print(f"{label:<22}{model.count_params():>12,}{accuracy(model):>16.4f}")

figure, (left, right) = plt.subplots(1, 2, figsize=(11, 3.5))
for label, model, curve in rows:
    left.plot(range(1, len(curve) + 1), curve, marker="o", label=label)
    right.bar(label.replace(" ", "\n", 1), accuracy(model))
left.set(xlabel="epoch", ylabel="test accuracy", title="Learning curves")
left.legend()
right.set(ylabel="test accuracy", title="Final accuracy", ylim=(0.5, 1.0))
plt.show()

# %% [markdown]
# With every label and a short schedule, the teacher has little to add:
# on full Fashion-MNIST for 10 epochs the two students end within about a
# point of each other (one CPU run: 0.869 from scratch, 0.859 distilled;
# the teacher 0.911). The soft targets are a slower signal than the labels,
# and a student this small is limited by its size. Longer training, another
# loss (`02_temperature_and_losses.ipynb`) or feature terms
# (`03_feature_distillation.ipynb`) move that. Where distillation pays
# most is when labels are scarce.
#
# ## 5. Few labels
#
# The usual situation: the teacher was trained, elsewhere, on many labels;
# you have plenty of images but label only a few. Unlabeled images get the
# label `-1`, which `SparseCategoricalCrossentropy(ignore_class=-1)`
# skips: the student learns them from the teacher alone. Both students see
# the same images for the same number of steps. With 1,000 labels of
# Fashion-MNIST, one CPU run gave 0.771 from scratch and 0.866 distilled,
# next to 0.869 for the student trained on all 60,000 labels.

# %%
num_labels = 100 if SMALL else 1000
labeled = np.random.default_rng(0).choice(len(x_train), size=num_labels, replace=False)
y_few = np.full_like(y_train, -1)
y_few[labeled] = y_train[labeled]
few_labels_loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True, ignore_class=-1)

few_scratch = classifier(STUDENT_WIDTH, "few_labels_from_scratch")
few_scratch.set_weights(student_initial_weights)
few_scratch.compile(optimizer=keras.optimizers.Adam(LEARNING_RATE), loss=few_labels_loss)
few_scratch.fit(x_train, y_few, epochs=EPOCHS, batch_size=BATCH_SIZE, verbose=0)

few_distiller = kd.Distiller(
    teacher=teacher, student=classifier(STUDENT_WIDTH, "few_labels_distilled")
)
few_distiller.student.set_weights(student_initial_weights)
few_distiller.compile(
    optimizer=keras.optimizers.Adam(LEARNING_RATE),
    student_loss_fn=few_labels_loss,
    alpha=0.1,
    temperature=4.0,
)
few_distiller.fit(x_train, y_few, epochs=EPOCHS, batch_size=BATCH_SIZE, verbose=0)

few_labels = {
    f"from scratch,\n{num_labels:,} labels": accuracy(few_scratch),
    f"distilled,\n{num_labels:,} labels": accuracy(few_distiller),
    f"from scratch,\nall {len(y_train):,} labels": accuracy(scratch),
}
figure, axis = plt.subplots(figsize=(7, 3.2))
colors = ["tab:orange", "tab:green", "tab:gray"]
bars = axis.bar(list(few_labels), list(few_labels.values()), color=colors)
axis.bar_label(bars, fmt="%.3f")
axis.set(ylabel="student test accuracy", ylim=(0.0, 1.05), title="Few labels")
plt.show()

# %% [markdown]
# ## 6. Export to TensorFlow Lite
#
# `kd.export_student` writes the student alone (never the teacher) and
# `kd.compare_exported` runs the file next to the Keras student: the largest
# logit difference, both accuracies, file size and per-example latency.

# %%
path = kd.export_student(distiller, "student.tflite", format="tflite")
report = kd.compare_exported(distiller, path, x_test, y_test)
print(kd.format_parity_table([report]))
assert report["max_abs_diff"] < 1e-3, "the TFLite file should compute the Keras student's logits"

# %% [markdown]
# `student.tflite` is ready for Android, iOS or a microcontroller runtime
# (in Colab, download it from the file browser on the left). Quantized
# exports (float16, dynamic range, int8) and SavedModel are in
# `04_export_to_mobile.ipynb`.
