"""Lazy imports of optional dependencies, with the exact install line."""

import importlib


def require(module, package, extra=None):
    """Imports `module`, or raises an ImportError naming the pip install line.

    Args:
        module: Module to import, e.g. `"matplotlib.figure"`.
        package: The pip package that provides it, e.g. `"matplotlib"`.
        extra: The keras-distill extra that installs it, e.g. `"demo"`.

    Returns:
        The imported module.
    """
    try:
        return importlib.import_module(module)
    except ImportError as error:
        line = f'pip install "keras-distill[{extra}]"' if extra else ""
        hint = f"{line} (or pip install {package})" if line else f"pip install {package}"
        raise ImportError(
            f"`{module}` is needed here but {package} is not installed. "
            f"Install it with: {hint}"
        ) from error
