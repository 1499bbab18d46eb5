# %% [markdown]
# # Export to mobile: SavedModel, TFLite and quantization, checked
#
# Distillation makes the model small; quantization makes the file smaller
# still. This notebook exports one distilled student to every format
# keras-distill writes (a Keras file, a TF Serving SavedModel, and TFLite in
# float32, float16, dynamic-range and full-integer int8) and checks each
# file against the Keras student: the largest logit difference, both
# accuracies, the file size and the per-example latency.
#
# Export follows the TF Model Optimization rule "wrap, train, strip,
# export": the Distiller and the teacher are training-time machinery and
# never reach the exported file, only the student does.

# %% [markdown]
# ## A distilled student
#
# The same teacher and student as in `01_quickstart.ipynb`, condensed.

# %%
teacher = classifier(TEACHER_WIDTH, "teacher")
train_from_scratch(teacher)

distiller = kd.Distiller(teacher=teacher, student=classifier(STUDENT_WIDTH, "student"))
distiller.compile(
    optimizer=keras.optimizers.Adam(LEARNING_RATE),
    metrics=["accuracy"],
    student_loss_fn=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    alpha=0.1,
    temperature=4.0,
)
distiller.fit(x_train, y_train, epochs=EPOCHS, batch_size=BATCH_SIZE, verbose=0)
print(f"teacher {teacher.count_params():,} parameters, test accuracy {accuracy(teacher):.4f}")
print(f"student {distiller.student.count_params():,} parameters, "
      f"test accuracy {accuracy(distiller):.4f}")  # fmt: skip

# %% [markdown]
# ## A Keras file and a SavedModel for TF Serving
#
# The default format is a `.keras` file of the student alone.
# `format="saved_model"` writes the TF Serving layout: a numbered version
# directory under the base path (`serving/student/1`, then `2` on the next
# export) with a `serving_default` signature that keeps the student's input
# and output names (here `image` -> `logits`) and a dynamic batch size.

# %%
import tensorflow as tf

keras_path = kd.export_student(distiller, "student.keras")
saved_model_path = kd.export_student(distiller, "serving/student", format="saved_model")
serve = tf.saved_model.load(saved_model_path).signatures["serving_default"]
logits = serve(image=tf.constant(x_test[:5]))["logits"]
print(saved_model_path, "->", np.argmax(logits, axis=-1), "labels", y_test[:5])

# %% [markdown]
# ## TFLite, four ways
#
# | `quantization` | weights | activations | needs |
# |---|---|---|---|
# | `None` | float32 | float32 | - |
# | `"float16"` | float16 | float32 | - (halves the file; GPU delegates run it natively) |
# | `"dynamic"` | int8 | float32, int8 matmuls at run time | - |
# | `"int8"` | int8 | int8 | `representative_data`: real inputs to calibrate ranges |
#
# `int8_io=True` also makes the inputs and outputs int8, for integer-only
# hardware (Edge TPU, microcontrollers); the caller then quantizes inputs
# with the file's scale and zero point. (Dynamic-range quantization leaves
# weight tensors under 1,024 values in float32: on the tiny student of the
# small-size run it changes nothing.)

# %%
TFLITE_EXPORTS = [  # (file, quantization, int8_io)
    ("student.tflite", None, False),
    ("student_float16.tflite", "float16", False),
    ("student_dynamic.tflite", "dynamic", False),
    ("student_int8.tflite", "int8", False),
    ("student_int8_io.tflite", "int8", True),
]
paths = [keras_path, saved_model_path] + [
    kd.export_student(
        distiller, file, format="tflite", quantization=quantization, int8_io=int8_io,
        representative_data=x_train[:200] if quantization == "int8" else None,
    )  # fmt: skip
    for file, quantization, int8_io in TFLITE_EXPORTS
]
print("\n".join(str(path) for path in paths))

# %% [markdown]
# ## The parity table
#
# `kd.compare_exported` runs each file in its own runtime (TFLite through
# the LiteRT interpreter, `ai_edge_litert`, when installed) next to the
# Keras student on the whole test split; `kd.format_parity_table` prints
# the reports as Markdown, ready for a README or a pull request.

# %%
reports = [kd.compare_exported(distiller, path, x_test, y_test) for path in paths]
print(f"{len(x_test)} test images, TFLite runtime: {reports[-1]['runtime']}")
print(kd.format_parity_table(reports))

# %% [markdown]
# Size against fidelity: each quantization step shrinks the file, and the
# logit error grows while the accuracy barely moves.

# %%
labels = ["student.keras", "serving/student"] + [file for file, *_ in TFLITE_EXPORTS]
figure, (size_axis, error_axis, accuracy_axis) = plt.subplots(1, 3, figsize=(15, 3.8), sharey=True)
size_axis.barh(labels, [report["file_size_bytes"] / 1024 for report in reports])
size_axis.set(xlabel="file size (KB)", title="Size")
size_axis.invert_yaxis()  # first export on top
error_axis.barh(labels, [max(report["max_abs_diff"], 1e-9) for report in reports])
error_axis.set(xscale="log", xlabel="max |logit difference| vs Keras", title="Fidelity")
accuracy_axis.barh(labels, [report["exported_accuracy"] for report in reports])
accuracy_axis.set(xlabel="test accuracy", title="Accuracy",
                  xlim=(min(r["exported_accuracy"] for r in reports) - 0.05, 1.0))  # fmt: skip
plt.tight_layout()
plt.show()

by_file = dict(zip(labels, reports))
assert by_file["student.tflite"]["max_abs_diff"] < 1e-3, "float32 TFLite should match Keras"
int8 = by_file["student_int8.tflite"]
assert abs(int8["exported_accuracy"] - int8["keras_accuracy"]) < 0.05, "int8 lost accuracy"

# %% [markdown]
# ## Running a `.tflite` file yourself
#
# This is what an app does, in Python: load the file in the LiteRT
# interpreter and call its `serving_default` signature by input name. With
# `int8_io=True`, quantize the inputs and dequantize the outputs with the
# scale and zero point stored in the file.

# %%
try:
    from ai_edge_litert.interpreter import Interpreter
except ImportError:  # older setups: the interpreter bundled with TensorFlow
    Interpreter = tf.lite.Interpreter

runner = Interpreter(model_path=str(paths[-1])).get_signature_runner("serving_default")
input_details, output_details = runner.get_input_details(), runner.get_output_details()
(in_scale, in_zero), (out_scale, out_zero) = (
    input_details["image"]["quantization"], output_details["logits"]["quantization"])  # fmt: skip
images = np.round(x_test[:8] / in_scale + in_zero).clip(-128, 127).astype(np.int8)
logits = (runner(image=images)["logits"].astype(np.float32) - out_zero) * out_scale
print("int8 predictions", np.argmax(logits, axis=-1))
print("labels          ", y_test[:8])
