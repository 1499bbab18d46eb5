"""One voice for argument errors: name, received value, expectation, fix."""


def invalid_argument(argument, received, expected, fix=None):
    """Builds a `ValueError` in the house style.

    Args:
        argument: Name of the argument, e.g. `"temperature"`.
        received: The value that was received (rendered with `repr`).
        expected: What was expected, as a sentence fragment.
        fix: Optional sentence telling the user what to do.

    Returns:
        A `ValueError` ready to be raised.
    """
    message = (
        f"Invalid value for argument `{argument}`. "
        f"Received: {argument}={received!r}. Expected {expected}."
    )
    if fix:
        message += f" {fix}"
    return ValueError(message)
