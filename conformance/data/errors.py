"""Errors of the data layer: one line naming the file, row and column, what is wrong, what to do."""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from typing import Any, Union

import numpy as np

PathLike = Union[str, "os.PathLike[str]"]

_MAX_LISTED = 12  # how many names an error message lists before "..."
_MAX_VALUE_CHARS = 40  # how much of an offending value an error message quotes


class DataError(ValueError):
    """Bad input data or arguments.

    ``str(err)`` is a single line that names the file (and the row/column where known), says what
    is wrong and what to do about it. Line breaks in the message are replaced by spaces.
    """

    def __init__(self, message: str) -> None:
        super().__init__(" ".join(part.strip() for part in str(message).splitlines() if part.strip()))


class _Problem(Exception):
    """A bad value (``row`` 0-based) or a bad column (``row`` None), before a location is known."""

    def __init__(self, row: int | None, problem: str, todo: str) -> None:
        super().__init__(problem)
        self.row = row
        self.problem = problem
        self.todo = todo


def _error(source: str, problem: str, todo: str, where: str | None = None) -> DataError:
    """A :class:`DataError` reading ``source: where: problem; todo``."""
    location = f"{source}: {where}" if where else source
    return DataError(f"{location}: {problem}; {todo}")


def _quote(value: Any) -> str:
    """``value`` quoted for a message, truncated to a readable length."""
    text = value if isinstance(value, str) else str(value)
    if len(text) > _MAX_VALUE_CHARS:
        text = text[: _MAX_VALUE_CHARS - 3] + "..."
    return repr(text)


def _names(names: Sequence[Any]) -> str:
    """A short, quoted list of names for a message."""
    shown = ", ".join(repr(name) for name in names[:_MAX_LISTED])
    if len(names) > _MAX_LISTED:
        shown += f", ... ({len(names)} in all)"
    return shown


def _fmt_number(x: float) -> str:
    """A float as it would be written by hand: ``-1`` rather than ``-1.0``."""
    if math.isfinite(x) and x.is_integer() and abs(x) < 1e16:
        return str(int(x))
    return repr(x)


def _check_int(source: str, name: str, value: Any, minimum: int) -> int:
    """``value`` as an int of at least ``minimum``, else :class:`DataError`."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise _error(source, f"{name} must be an integer, got {value!r}", f"pass an integer >= {minimum}")
    if value < minimum:
        raise _error(source, f"{name} must be >= {minimum}, got {value}", f"pass {name} >= {minimum}")
    return int(value)


def _check_names(source: str, names: Sequence[str], where: str) -> None:
    """Column names must be non-empty and distinct."""
    if not names:
        raise _error(source, "no columns", "write at least one feature column and a target column", where)
    for position, name in enumerate(names, start=1):
        if not name:
            raise _error(source, f"column {position} has an empty name", "give every column a name", where)
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise _error(source, f"duplicate column name {name!r}", "give every column a distinct name", where)
        seen.add(name)
