"""SavedModel export in the TensorFlow Serving layout: `<path>/<version>/`.

TF Serving watches a base directory and serves the highest integer
subdirectory. `export_saved_model(student, "models/digits")` therefore writes
`models/digits/1/` (then `2/`, ... on later exports) and returns that version
directory, which `tf.saved_model.load` opens directly. A path whose last part
is already an integer (`models/digits/7`) is written as given.
"""

import os

import keras

from keras_distill.src.export.signature import StudentSignature

SERVING_SIGNATURE = "serving_default"


def _versions(base):
    if not os.path.isdir(base):
        return []
    return sorted(
        int(name)
        for name in os.listdir(base)
        if name.isdigit() and os.path.isdir(os.path.join(base, name))
    )


def version_directory(path):
    """Returns the directory to write: `path` if it ends in a version, else the next."""
    path = os.fspath(path).rstrip("/\\") or "."
    if os.path.basename(path).isdigit():
        return path
    versions = _versions(path)
    return os.path.join(path, str(versions[-1] + 1 if versions else 1))


def find_saved_model(path):
    """Returns the directory holding `saved_model.pb`: `path` or its latest version."""
    path = os.fspath(path)
    if os.path.isfile(os.path.join(path, "saved_model.pb")):
        return path
    versions = _versions(path)
    for version in reversed(versions):
        candidate = os.path.join(path, str(version))
        if os.path.isfile(os.path.join(candidate, "saved_model.pb")):
            return candidate
    return None


def write_saved_model(signature, directory):
    """Writes the student's serving function to `directory` (tracks the student only)."""
    archive = keras.export.ExportArchive()
    archive.track(signature.student)
    # The first endpoint is also exported as "serving_default" for TF Serving.
    archive.add_endpoint("serve", signature.serving_function())
    archive.write_out(directory, verbose=False)
    return directory


def export_saved_model(student, path):
    """Exports `student` as a SavedModel version directory; returns its path."""
    directory = version_directory(path)
    if os.path.exists(os.path.join(directory, "saved_model.pb")):
        raise FileExistsError(
            f"A SavedModel already exists at '{directory}'. Export to the base "
            f"directory '{os.path.dirname(directory)}' to write the next version, "
            "or remove the old one."
        )
    return write_saved_model(StudentSignature(student), directory)
