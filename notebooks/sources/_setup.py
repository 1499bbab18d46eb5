# %% [markdown]
# ## Data and models
#
# Fashion-MNIST (60,000 training and 10,000 test images of clothes, 28x28
# grey levels, 10 classes) when the switch is off; sklearn's bundled 8x8
# digits (1,400 training and 397 test images, no download) when it is on.
# Both teacher and student are the same small CNN at two widths: `width`
# scales every layer, so at full size the teacher has about 60 times the
# student's parameters. We use the test split as validation data, to draw learning
# curves; nothing is tuned on it.

# %%
import keras
import matplotlib.pyplot as plt
import numpy as np

import keras_distill as kd

EPOCHS = 2 if SMALL else 10
BATCH_SIZE = 64 if SMALL else 128
LEARNING_RATE = 1e-2 if SMALL else 1e-3
TEACHER_WIDTH, STUDENT_WIDTH = (16, 4) if SMALL else (32, 4)
FASHION_CLASSES = ["T-shirt", "Trouser", "Pullover", "Dress", "Coat",
                   "Sandal", "Shirt", "Sneaker", "Bag", "Boot"]  # fmt: skip


def load_data():
    """`(x_train, y_train), (x_test, y_test), class_names`: images `(n, h, w, 1)` in [0, 1],
    integer labels."""
    if SMALL:
        from sklearn.datasets import load_digits

        digits = load_digits()
        order = np.random.default_rng(0).permutation(len(digits.target))
        x = (digits.images[order] / 16.0).astype("float32")[..., None]
        y = digits.target[order]
        return (x[:1400], y[:1400]), (x[1400:], y[1400:]), [str(i) for i in range(10)]
    (x_train, y_train), (x_test, y_test) = keras.datasets.fashion_mnist.load_data()
    x_train, x_test = [(x / 255.0).astype("float32")[..., None] for x in (x_train, x_test)]
    y_train, y_test = y_train.astype("int64"), y_test.astype("int64")  # uint8 when downloaded
    return (x_train, y_train), (x_test, y_test), FASHION_CLASSES


def classifier(width, name):
    """A CNN whose layers all scale with `width`; outputs logits."""
    return keras.Sequential(
        [
            keras.Input(x_train.shape[1:], name="image"),
            keras.layers.Conv2D(width, 3, padding="same", activation="relu", name="conv1"),
            keras.layers.MaxPooling2D(name="pool1"),
            keras.layers.Conv2D(2 * width, 3, padding="same", activation="relu", name="conv2"),
            keras.layers.MaxPooling2D(name="pool2"),
            keras.layers.Flatten(name="flatten"),
            keras.layers.Dense(4 * width, activation="relu", name="features"),
            keras.layers.Dense(10, name="logits"),
        ],
        name=name,
    )


def train_from_scratch(model):
    """Trains `model` on the hard labels alone; returns its `History`."""
    model.compile(
        optimizer=keras.optimizers.Adam(LEARNING_RATE),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    return model.fit(
        x_train, y_train, validation_data=(x_test, y_test),
        epochs=EPOCHS, batch_size=BATCH_SIZE, verbose=0,
    )  # fmt: skip


def accuracy(model):
    """Accuracy of a Keras model (or a Distiller: its student) on the test split."""
    logits = model.predict(x_test, batch_size=1024, verbose=0)
    return float(np.mean(np.argmax(logits, axis=-1) == y_test))


keras.utils.set_random_seed(0)
(x_train, y_train), (x_test, y_test), class_names = load_data()
print(f"{'small (digits)' if SMALL else 'full (Fashion-MNIST)'}: train {x_train.shape}, "
      f"test {x_test.shape}, {EPOCHS} epochs")  # fmt: skip
