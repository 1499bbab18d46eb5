"""Readable TFLite converter failures: which ops, where, and what to do.

The converter reports unsupported ops as MLIR diagnostics
(`'tf.Erfinv' op is neither a custom op nor a flex op`). This module pulls out
the op names and their graph locations, and tells apart ops that TensorFlow
Select (`select_tf_ops=True`, the Flex delegate) would run from ops that have
no kernel at all and must be replaced.
"""

import re

OPS_COMPATIBILITY_URL = "https://ai.google.dev/edge/litert/models/ops_compatibility"

_UNSUPPORTED_OP = re.compile(r"'tf\.(\w+)' op is neither a custom op nor a flex op")
_OPS_LIST = re.compile(r"(?:Custom|Flex) ops: ([\w, ]+)")
_OP_LOCATION = re.compile(r'fused\["(\w+):", "([^"@]+)@')


class ConversionError(RuntimeError):
    """The TFLite converter could not convert the student."""


def unsupported_ops(text):
    """The TensorFlow op names the converter could not lower, in order of appearance."""
    ops = list(dict.fromkeys(_UNSUPPORTED_OP.findall(text)))
    for listed in _OPS_LIST.findall(text):
        ops += [op for op in (o.strip() for o in listed.split(",")) if op and op not in ops]
    return ops


def _describe(ops, locations):
    return ", ".join(f"{op} (at {locations[op]})" if op in locations else op for op in ops)


def conversion_error(text, student_name, without_kernel=None):
    """Builds the `ConversionError` for a converter message.

    Args:
        text: The converter's error message.
        student_name: Name of the student, for the message.
        without_kernel: Ops that still fail with TensorFlow Select enabled;
            `None` means "all of them" (no Select retry was made).
    """
    ops = unsupported_ops(text)
    prefix = f"TFLite cannot convert the student '{student_name}':"
    if not ops:
        last_line = ([line for line in text.splitlines() if line.strip()] or [text])[-1]
        return ConversionError(
            f"{prefix} {last_line.strip()} If an op has no int8 kernel, try "
            f"quantization='dynamic' or 'float16'; see {OPS_COMPATIBILITY_URL}."
        )
    locations = dict(reversed(_OP_LOCATION.findall(text)))
    without_kernel = ops if without_kernel is None else without_kernel
    flex = [op for op in ops if op not in without_kernel]
    parts = []
    if flex:
        parts.append(
            f"op(s) {_describe(flex, locations)} have no TFLite builtin; pass "
            "`select_tf_ops=True` to keep their TensorFlow kernels (the app then "
            "needs the Flex delegate and a larger binary), or replace the layers "
            "that use them."
        )
    if without_kernel:
        parts.append(
            f"op(s) {_describe(without_kernel, locations)} have neither a TFLite "
            "builtin nor a TensorFlow Select kernel; replace the layers that use "
            f"them with supported ops ({OPS_COMPATIBILITY_URL})."
        )
    return ConversionError(" ".join([prefix] + parts))
