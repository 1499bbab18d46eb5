# %% [markdown]
# # GPUs, TPUs and scale: mixed precision, XLA, tf.distribute
#
# A distillation step costs a teacher forward pass on top of a normal
# student step, so the usual speed-ups matter twice. This notebook times the
# same distillation under each of them and checks the accuracy does not
# move:
#
# - **mixed precision**: float16 (GPU) or bfloat16 (TPU) compute with
#   float32 variables; the Distiller computes every loss in float32 and
#   scales the loss for float16;
# - **XLA** (`jit_compile=True`): the whole step, teacher included, fused
#   into one compiled program;
# - **`tf.distribute`**: the same code on one device, several GPUs
#   (`MirroredStrategy`) or a TPU (`TPUStrategy`);
# - **cached teacher outputs**: run the teacher once, not every epoch;
# - **`BackupAndRestore`**: resume a run that a disconnect killed.
#
# In Colab choose *Runtime > Change runtime type > GPU* (or TPU). On a CPU
# the notebook still runs, but its timings say little: mixed precision
# usually slows a CPU down.

# %% [markdown]
# ## Which hardware, which strategy
#
# A TPU is only looked for when the runtime has one (TPU device files or a
# `TPU_NAME`), so this cell never waits for a network call elsewhere. On a
# CPU or a single GPU we still use a one-device `MirroredStrategy`: the code
# path is the one several GPUs take.

# %%
import glob
import statistics
import time

import tensorflow as tf


def tpu_strategy():
    """A `TPUStrategy` on a TPU runtime (Colab, Cloud TPU VM), else None."""
    tpu_files = glob.glob("/dev/accel*") + glob.glob("/dev/vfio/[0-9]*")
    if not (os.environ.get("TPU_NAME") or tpu_files):
        return None
    try:
        resolver = tf.distribute.cluster_resolver.TPUClusterResolver(
            tpu=os.environ.get("TPU_NAME", "local")
        )
        tf.config.experimental_connect_to_cluster(resolver)
        tf.tpu.experimental.initialize_tpu_system(resolver)
        return tf.distribute.TPUStrategy(resolver)
    except (ValueError, RuntimeError, tf.errors.OpError) as error:
        print(f"A TPU runtime, but TensorFlow cannot use it ({error}); continuing without.")
        return None


gpus = tf.config.list_physical_devices("GPU")
strategy = tpu_strategy()
if strategy is not None:
    device, mixed_policy = "TPU", "mixed_bfloat16"
elif gpus:
    strategy = tf.distribute.MirroredStrategy()  # every visible GPU
    device, mixed_policy = f"{len(gpus)} GPU(s)", "mixed_float16"
else:
    strategy = tf.distribute.MirroredStrategy(["/cpu:0"])
    device, mixed_policy = "CPU", "mixed_bfloat16"
replicas = strategy.num_replicas_in_sync
global_batch = BATCH_SIZE * replicas
print(f"{device}: {type(strategy).__name__} with {replicas} replica(s), "
      f"global batch {global_batch}, mixed precision policy {mixed_policy!r}")  # fmt: skip

# %% [markdown]
# ## Data as a `tf.data` pipeline
#
# Batches of the *global* batch size (each replica gets `BATCH_SIZE`); a
# fixed batch shape (`drop_remainder=True`) keeps TPU and XLA programs
# static.

# %%
train_dataset = (
    tf.data.Dataset.from_tensor_slices((x_train, y_train))
    .shuffle(len(x_train), seed=0)
    .batch(global_batch, drop_remainder=True)
    .prefetch(tf.data.AUTOTUNE)
)

# %% [markdown]
# ## A teacher
#
# Trained once in float32; each run below copies its weights into a teacher
# built under that run's precision policy.

# %%
teacher = classifier(TEACHER_WIDTH, "teacher")
train_from_scratch(teacher)
initial_student_weights = classifier(STUDENT_WIDTH, "student").get_weights()
print(f"teacher test accuracy {accuracy(teacher):.4f}")

# %% [markdown]
# ## One distillation, four ways
#
# `distill` builds the models and the Distiller inside `strategy.scope()`
# under a dtype policy, so the variables are mirrored on every replica and
# the layers compute in the policy's dtype. Under `mixed_float16`, Keras
# wraps the optimizer in a `LossScaleOptimizer`, and the Distiller scales
# its (float32) loss with it. The first epoch includes tracing and XLA
# compilation, so throughput is measured on the epochs after it.


# %%
class EpochTimer(keras.callbacks.Callback):
    """Wall-clock seconds of each epoch."""

    def on_train_begin(self, logs=None):
        self.seconds = []

    def on_epoch_begin(self, epoch, logs=None):
        self.start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.seconds.append(time.perf_counter() - self.start)


def distill(policy, jit_compile, dataset=train_dataset, with_teacher=True, callbacks=()):
    """Distills a fresh student; returns `(test accuracy, training examples per second)`.

    `with_teacher=False`: `dataset` carries cached teacher outputs; no teacher runs.
    """
    keras.mixed_precision.set_global_policy(policy)
    try:
        with strategy.scope():
            step_teacher = None
            if with_teacher:
                step_teacher = classifier(TEACHER_WIDTH, "teacher")
                step_teacher.set_weights(teacher.get_weights())
            student = classifier(STUDENT_WIDTH, "student")
            student.set_weights(initial_student_weights)
            distiller = kd.Distiller(teacher=step_teacher, student=student)
            distiller.compile(
                optimizer=keras.optimizers.Adam(LEARNING_RATE),
                student_loss_fn=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                alpha=0.1,
                temperature=4.0,
                jit_compile=jit_compile,
            )
    finally:
        keras.mixed_precision.set_global_policy("float32")
    timer = EpochTimer()
    distiller.fit(dataset, epochs=EPOCHS, callbacks=[timer, *callbacks], verbose=0)
    examples = (len(x_train) // global_batch) * global_batch
    return accuracy(student), examples / statistics.median(timer.seconds[1:])


runs = {}
for policy in ("float32", mixed_policy):
    for jit_compile in (False, True):
        label = f"{policy}{' + XLA' if jit_compile else ''}"
        runs[label] = distill(policy, jit_compile)
        print(f"{label:<24} test accuracy {runs[label][0]:.4f}, "
              f"{runs[label][1]:>9,.0f} examples/s")  # fmt: skip

# %% [markdown]
# ## Cached teacher outputs
#
# The teacher is frozen, so its outputs for an image never change:
# `kd.cache_teacher_outputs` runs it once over the dataset and returns a
# dataset whose batches carry the teacher's logits. `fit` on it never runs
# the teacher (the Distiller can even be built with `teacher=None`), so an
# epoch costs about as much as training the student alone. Cache an
# un-augmented dataset in a fixed order (random augmentation is refused:
# one random view would be reused every epoch), then shuffle the cache:
# each example keeps its own teacher outputs. With `path=` the cache goes
# to disk and is reused by later runs; `top_k=` stores only the largest
# logits, for large vocabularies.
#
# Colab sessions get cut off. `kd.callbacks.BackupAndRestore` saves the
# run (atomically, every epoch or every `save_freq` steps); running the
# same cell again resumes where it stopped, and the backup is deleted when
# training ends. Point it at Google Drive (`/content/drive/MyDrive/...`
# after `google.colab.drive.mount`) to survive a new runtime.

# %%
ordered = tf.data.Dataset.from_tensor_slices((x_train, y_train)).batch(1024)
start = time.perf_counter()
cached = kd.cache_teacher_outputs(teacher, ordered, verbose=0)
print(f"teacher run once over {len(x_train):,} images: {time.perf_counter() - start:.1f} s")
cached_dataset = (
    cached.unbatch()
    .shuffle(len(x_train), seed=0)
    .batch(global_batch, drop_remainder=True)
    .prefetch(tf.data.AUTOTUNE)
)
label = "float32, cached teacher"
backup = kd.callbacks.BackupAndRestore("backup/cached_run")
runs[label] = distill("float32", False, cached_dataset, with_teacher=False, callbacks=[backup])
print(f"{label:<24} test accuracy {runs[label][0]:.4f}, {runs[label][1]:>9,.0f} examples/s")

# %% [markdown]
# ## Throughput and accuracy
#
# The speed-ups should change the speed, not the result: every run starts
# from the same weights, and their accuracies should agree to within the
# noise of low-precision arithmetic.

# %%
labels = list(runs)
figure, (speed_axis, accuracy_axis) = plt.subplots(1, 2, figsize=(11, 3.2), sharey=True)
speed_axis.barh(labels, [runs[label][1] for label in labels])
speed_axis.set(xlabel="training examples / s", title=f"Throughput on {device}")
speed_axis.invert_yaxis()
accuracy_axis.barh(labels, [runs[label][0] for label in labels])
accuracy_axis.set(xlabel="student test accuracy", title="Accuracy",
                  xlim=(min(run[0] for run in runs.values()) - 0.05, 1.0))  # fmt: skip
plt.tight_layout()
plt.show()
