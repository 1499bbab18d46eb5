"""A quiet start for the `keras-distill` command.

Importing TensorFlow prints a screen of C++ notices (CUDA drivers, CPU
instructions, oneDNN) that say nothing about the user's job, and some of
them are written before TensorFlow reads `TF_CPP_MIN_LOG_LEVEL`. When the
process is the `keras-distill` command (or `python -m keras_distill`) and
the user has not set `TF_CPP_MIN_LOG_LEVEL`, Keras (and with it TensorFlow)
is imported with the log level at 3 and the process's standard error
silenced; an import that fails raises as usual, with its message. Set
`TF_CPP_MIN_LOG_LEVEL` (e.g. to 0) to see every notice. What was written
while silenced is shown when the import raises.

The library itself never does this: only the command does.
"""

import contextlib
import os
import sys
import tempfile


def _is_command():
    argv = list(getattr(sys, "orig_argv", sys.argv))
    ran_module = any(
        argv[i] == "-m" and argv[i + 1] == "keras_distill" for i in range(len(argv) - 1)
    )
    return os.path.basename(sys.argv[0]) == "keras-distill" or ran_module


@contextlib.contextmanager
def _silenced_stderr():
    """Standard error (the file descriptor, which C++ writes to) into a
    temporary file for the duration; replayed if the block raises."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile(mode="w+") as captured:
        os.dup2(captured.fileno(), 2)
        try:
            yield
        except BaseException:
            os.dup2(saved, 2)
            captured.seek(0)
            sys.stderr.write(captured.read())
            raise
        finally:
            os.dup2(saved, 2)
            os.close(saved)


def quiet_start():
    """Imports Keras quietly when this process is the command (see above)."""
    if not _is_command() or "TF_CPP_MIN_LOG_LEVEL" in os.environ:
        return
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
    with _silenced_stderr():
        import keras  # noqa: F401
