"""Distills a small CNN on sklearn digits, exports it in every format, prints parity.

Run: python examples/export_to_mobile.py [--out exported] [--epochs 15]

Needs scikit-learn (bundled digits data, no download), TensorFlow and,
preferably, ai-edge-litert (`pip install "keras-distill[export]"`).
"""

import argparse
import os

import keras
import numpy as np
from sklearn.datasets import load_digits

import keras_distill as kd

EXPORTS = [  # (name, format, quantization, int8_io)
    ("student.keras", "keras", None, False),
    ("serving", "saved_model", None, False),
    ("student.tflite", "tflite", None, False),
    ("student_float16.tflite", "tflite", "float16", False),
    ("student_dynamic.tflite", "tflite", "dynamic", False),
    ("student_int8.tflite", "tflite", "int8", False),
    ("student_int8_io.tflite", "tflite", "int8", True),
]


def digits():
    data = load_digits()
    x = (data.images / 16.0).astype("float32")[..., None]  # (n, 8, 8, 1) in [0, 1]
    order = np.random.default_rng(0).permutation(len(x))
    x, y = x[order], data.target[order]
    return (x[:1400], y[:1400]), (x[1400:], y[1400:])


def cnn(filters, units, name):
    return keras.Sequential(
        [
            keras.Input((8, 8, 1), name="image"),
            keras.layers.Conv2D(filters, 3, padding="same", activation="relu"),
            keras.layers.MaxPooling2D(),
            keras.layers.Flatten(),
            keras.layers.Dense(units, activation="relu"),
            keras.layers.Dense(10, name="logits"),
        ],
        name=name,
    )


def main(out, epochs):
    keras.utils.set_random_seed(0)
    (x_train, y_train), (x_test, y_test) = digits()
    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    teacher = cnn(32, 128, "teacher")
    teacher.compile("adam", loss)
    teacher.fit(x_train, y_train, epochs=epochs, batch_size=32, verbose=0)
    distiller = kd.Distiller(teacher=teacher, student=cnn(8, 32, "student"))
    distiller.compile(optimizer="adam", student_loss_fn=loss, alpha=0.1, temperature=4.0)
    distiller.fit(x_train, y_train, epochs=epochs, batch_size=32, verbose=0)

    reports = []
    for name, export_format, quantization, int8_io in EXPORTS:
        path = kd.export_student(
            distiller,
            os.path.join(out, name),
            format=export_format,
            quantization=quantization,
            representative_data=x_train[:200] if quantization == "int8" else None,
            int8_io=int8_io,
        )
        reports.append(kd.compare_exported(distiller.student, path, x_test, y_test))
    teacher_logits = keras.ops.convert_to_numpy(teacher(x_test))
    teacher_accuracy = np.mean(np.argmax(teacher_logits, -1) == y_test)
    print(f"teacher accuracy {teacher_accuracy:.4f} ({teacher.count_params()} parameters), "
          f"student {distiller.student.count_params()} parameters")
    print(f"{len(x_test)} test digits, TFLite runtime {reports[-1]['runtime']}:")
    print(kd.format_parity_table(reports))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="exported", help="output directory")
    parser.add_argument("--epochs", type=int, default=15)
    arguments = parser.parse_args()
    main(arguments.out, arguments.epochs)
