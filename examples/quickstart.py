"""Distills a small MLP from a larger one on synthetic data (no download).

Run: python examples/quickstart.py
"""

import keras
import numpy as np

import keras_distill as kd


def make_data(n, seed):
    rng = np.random.default_rng(seed)
    centers = np.random.default_rng(0).normal(size=(10, 32)) * 1.5
    y = rng.integers(0, 10, size=n)
    x = centers[y] + rng.normal(size=(n, 32))
    return x.astype("float32"), y


def mlp(units, name):
    inputs = keras.Input((32,))
    hidden = keras.layers.Dense(units, activation="relu")(inputs)
    return keras.Model(inputs, keras.layers.Dense(10)(hidden), name=name)


def main():
    keras.utils.set_random_seed(0)
    x_train, y_train = make_data(4000, seed=1)
    x_test, y_test = make_data(1000, seed=2)
    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)

    teacher = mlp(256, "teacher")
    teacher.compile("adam", loss, metrics=["accuracy"])
    teacher.fit(x_train, y_train, epochs=5, batch_size=64, verbose=0)

    distiller = kd.Distiller(teacher=teacher, student=mlp(8, "student"))
    distiller.compile(
        optimizer="adam",
        metrics=["accuracy"],
        student_loss_fn=loss,
        alpha=0.1,
        temperature=4.0,
    )
    distiller.fit(x_train, y_train, epochs=5, batch_size=64, verbose=2)
    _, teacher_acc = teacher.evaluate(x_test, y_test, verbose=0)
    student = distiller.evaluate(x_test, y_test, verbose=0, return_dict=True)
    print(f"teacher accuracy {teacher_acc:.3f}")
    print(f"distilled student accuracy {student['accuracy']:.3f}")


if __name__ == "__main__":
    main()
