"""The public API is pinned: adding or removing a name is a deliberate diff."""

import importlib

import pytest

import keras_distill as kd

PUBLIC = {
    "keras_distill": [
        "Distiller",
        "OnPolicy",
        "__version__",
        "cache_teacher_outputs",
        "callbacks",
        "compare_exported",
        "datasets",
        "export",
        "export_student",
        "format_parity_table",
        "generate_teacher_dataset",
        "losses",
        "schedules",
        "teachers",
        "tuning",
    ],
}
MODULES = ["callbacks", "datasets", "export", "losses", "schedules", "teachers", "tuning"]


def test_top_level_names_are_pinned():
    assert sorted(kd.__all__) == sorted(PUBLIC["keras_distill"])
    for name in kd.__all__:
        assert hasattr(kd, name), name


@pytest.mark.parametrize("module", MODULES)
def test_every_public_module_declares_and_exports_its_names(module):
    mod = importlib.import_module(f"keras_distill.{module}")
    assert mod.__all__, module
    assert len(mod.__all__) == len(set(mod.__all__)), module
    for name in mod.__all__:
        assert hasattr(mod, name), f"keras_distill.{module}.{name}"
        assert not name.startswith("_") or name == "__version__"


def test_every_public_class_is_registered_for_saving():
    import inspect

    import keras

    for module in ["losses", "teachers", "callbacks"]:
        mod = importlib.import_module(f"keras_distill.{module}")
        for name in mod.__all__:
            obj = getattr(mod, name)
            if not inspect.isclass(obj) or issubclass(obj, keras.callbacks.Callback):
                continue
            if getattr(obj, "__module__", "").startswith("keras_distill"):
                registered = keras.saving.get_registered_name(obj)
                assert registered.startswith("keras_distill>"), f"{module}.{name}"
