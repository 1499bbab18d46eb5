"""Language models: teacher and student must score the same tokens.

Token-level terms compare the teacher's and the student's distributions over
the vocabulary, id by id, so both must share a tokenizer. For KerasHub tasks
(a `backbone` with a `vocabulary_size`, a `preprocessor` with a `tokenizer`)
this is checked when the Distiller is built:

- tokenizers given to both must have the same vocabulary;
- embedding tables of different sizes are an error, except when each is at
  least the tokenizer's size: an embedding padded past the tokenizer (to a
  multiple of 64, say) has rows no token id reaches, and the terms then
  compare the logits of the tokenizer's ids only (`shared_ids`).
"""


def _tokenizer(model):
    return getattr(getattr(model, "preprocessor", None), "tokenizer", None)


def _embedding_rows(model):
    size = getattr(getattr(model, "backbone", None), "vocabulary_size", None)
    return size if isinstance(size, int) else None


def _vocabulary(tokenizer):
    """The tokens in id order (and a byte-pair tokenizer's merges), or None."""
    vocabulary = getattr(tokenizer, "vocabulary", None)
    if isinstance(vocabulary, dict):  # Byte-pair: {token: id}.
        tokens = [token for token, _ in sorted(vocabulary.items(), key=lambda item: item[1])]
        return tokens, list(getattr(tokenizer, "merges", None) or [])
    try:
        return list(tokenizer.get_vocabulary()), []
    except (AttributeError, NotImplementedError, ValueError):
        return None  # A tokenizer without a listed vocabulary (e.g. bytes).


def _tokenizer_size(tokenizer):
    try:
        return int(tokenizer.vocabulary_size())
    except (AttributeError, NotImplementedError, TypeError, ValueError):
        return None


def tokenizer_ids(model):
    """The size of `model`'s tokenizer when its embedding is padded past it
    (the ids a cache of its outputs keeps), else None."""
    rows, tokenizer = _embedding_rows(model), _tokenizer(model)
    size = None if rows is None or tokenizer is None else _tokenizer_size(tokenizer)
    return size if size is not None and size < rows else None


def shared_ids(teacher, student):
    """How many token ids the terms compare: None for all of them, or the
    tokenizer's size when an embedding is padded past it. Without a teacher
    (cached teacher outputs, which keep the tokenizer's ids), the student's
    `tokenizer_ids`.

    Raises:
        ValueError: the tokenizers' vocabularies differ, or the embedding
            sizes differ with no tokenizer that explains it.
    """
    if teacher is None:
        return tokenizer_ids(student)
    teacher_rows, student_rows = _embedding_rows(teacher), _embedding_rows(student)
    if teacher_rows is None or student_rows is None:
        return None  # Not a language model: the terms' class-axis check applies.
    teacher_tokenizer, student_tokenizer = _tokenizer(teacher), _tokenizer(student)
    if teacher_tokenizer is not None and student_tokenizer is not None:
        _check_same_tokens(teacher_tokenizer, student_tokenizer)
    tokenizer = student_tokenizer or teacher_tokenizer
    size = None if tokenizer is None else _tokenizer_size(tokenizer)
    if teacher_rows == student_rows and (size is None or size >= teacher_rows):
        return None
    if size is not None and min(teacher_rows, student_rows) >= size:
        return size
    raise ValueError(
        "The teacher and the student have different vocabulary sizes. "
        f"Received: teacher vocabulary_size={teacher_rows}, student "
        f"vocabulary_size={student_rows}"
        + ("" if size is None else f", tokenizer vocabulary size={size}")
        + ". Expected the same vocabulary: token-level distillation compares "
        "the two models id by id. Build the student with the teacher's "
        "tokenizer and `vocabulary_size`."
    )


def _check_same_tokens(teacher_tokenizer, student_tokenizer):
    teacher, student = _vocabulary(teacher_tokenizer), _vocabulary(student_tokenizer)
    if teacher is None or student is None or teacher == student:
        return
    (teacher_tokens, _), (student_tokens, _) = teacher, student
    if teacher_tokens == student_tokens:
        difference = "the same tokens, but different merge rules"
    else:
        differing = next(
            (i for i, (t, s) in enumerate(zip(teacher_tokens, student_tokens)) if t != s),
            min(len(teacher_tokens), len(student_tokens)),
        )
        difference = (
            f"teacher vocabulary size={len(teacher_tokens)}, student vocabulary "
            f"size={len(student_tokens)}, first differing id={differing}"
        )
    raise ValueError(
        "The teacher and the student use different tokenizer vocabularies. "
        f"Received: {difference}. Expected the same tokens in the same order: "
        "token-level distillation compares the two models id by id. Give the "
        "student the teacher's tokenizer (e.g. its preset's tokenizer)."
    )


def leading_ids(logits, count):
    """`logits[..., :count]`, or `logits` when `count` is None."""
    return logits if count is None else logits[..., :count]


def leading_ids_shape(shape, count):
    """A static shape with its last axis `count` (unchanged for None)."""
    return shape if count is None or shape is None else (*tuple(shape)[:-1], count)
