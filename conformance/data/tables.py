"""Tables to datasets: ``load_table`` (column selection, conversion, label encoding) and ``write_table``."""

from __future__ import annotations

import csv
import json
import math
import os
import re
import sqlite3
import zipfile
from collections.abc import Callable, Sequence
from contextlib import closing
from pathlib import Path
from typing import Any

import numpy as np

from .datasets import Dataset
from .ranges import check_float32
from .errors import PathLike, _Problem, _error, _fmt_number, _names, _quote
from .readers import (SUPPORTED_EXTENSIONS, _check_path, _format_of, _quote_identifier, _read_csv, _read_json,
                      _read_npz, _read_sqlite, _Table)

#: Column names tried, in order, when no target is given; the last column is the fallback.
DEFAULT_TARGETS = ("y", "target", "label")

_SQLITE_TABLE = "data"  # the table write_table creates


def load_table(
    path: PathLike,
    target: str | None = None,
    features: Sequence[str] | None = None,
    table: str | None = None,
    dtype: str | None = "float32",
    progress: Callable[[int, int], None] | None = None,
) -> Dataset:
    """Read a binary classification table from a ``.csv``, ``.json``, SQLite or ``.npz`` file.

    ``target`` defaults to the column named ``y``, else ``target``, else ``label``, else the last
    column; ``features`` default to all other columns, in file order. ``table`` selects the SQLite
    table (needed only when the database holds more than one). ``dtype`` is the precision the data
    will be computed in: with "float32" (the default), a feature whose values, or whose
    standardization's sums, leave float32's range is refused (None: no such check).
    ``progress(bytes_read, bytes_total)`` is called as a CSV file is read. Raises
    :class:`DataError` with a one-line message for anything wrong with the file or the arguments.
    """
    source = os.fspath(path)
    if isinstance(features, str):
        raise TypeError(f"features must be a sequence of column names, not the string {features!r}; "
                        f"write features=[{features!r}]")
    file = Path(source)
    fmt = _check_path(file, source)
    if table is not None and fmt != "sqlite":
        raise _error(source, f"table={table!r} applies only to SQLite files, but this is a {fmt} file",
                     "leave table out")
    if dtype not in (None, "float32"):
        raise ValueError(f"dtype must be 'float32' or None, got {dtype!r}")
    if fmt == "csv":
        raw = _read_csv(file, source, table, progress)
    else:
        raw = {"json": _read_json, "sqlite": _read_sqlite, "npz": _read_npz}[fmt](file, source, table)
    return _build_dataset(raw, target, features, dtype)


# --------------------------------------------------------------------------------------------
# Column selection and conversion


def _build_dataset(raw: _Table, target: str | None, features: Sequence[str] | None, dtype: str | None) -> Dataset:
    source, names = raw.source, raw.names
    available = f"the columns are {_names(names)}"
    if target is None:
        target = next((name for name in DEFAULT_TARGETS if name in names), names[-1])
    elif target not in names:
        raise _error(source, f"target column {target!r} not found; {available}", "pass target= one of them")
    if features is None:
        feature_list = [name for name in names if name != target]
        if not feature_list:
            raise _error(source, f"no feature columns: the only column is the target {target!r}",
                         "add feature columns to the file")
    else:
        feature_list = list(features)
        if not feature_list:
            raise _error(source, "features is empty", "list at least one feature column, or pass features=None for all")
        for name in feature_list:
            if name not in names:
                raise _error(source, f"feature column {name!r} not found; {available}", "pass features= from those")
        if target in feature_list:
            raise _error(source, f"the target column {target!r} is also listed among the features",
                         "remove it from features= or choose another target=")
        seen: set[str] = set()
        for name in feature_list:
            if name in seen:
                raise _error(source, f"feature column {name!r} is listed twice in features=", "list each feature once")
            seen.add(name)

    index = {name: i for i, name in enumerate(names)}
    # column-major, so that filling a column touches only its own memory and each column read is
    # freed as it is copied: a large table is held about once (``apply_split`` gives C-ordered copies)
    X = np.empty((raw.n_rows, len(feature_list)), dtype=np.float64, order="F")
    first: tuple[int, str, _Problem] | None = None  # the earliest bad cell, by row then feature order
    for j, name in enumerate(feature_list):
        try:
            X[:, j] = _feature_column(raw.columns[index[name]])
            raw.columns[index[name]] = None  # read: let it go, so that a large table is held once
        except _Problem as problem:
            if problem.row is None:
                raise _error(source, problem.problem, problem.todo, f"column {name!r}") from None
            if first is None or problem.row < first[0]:
                first = (problem.row, name, problem)
    if first is not None:
        row, name, problem = first
        raise _error(source, problem.problem, problem.todo, f"{raw.row_label(row)}, column {name!r}")
    if dtype == "float32":
        check_float32(X, feature_list, raw.row_label, source)

    try:
        y, label_map, note = _encode_target(raw.columns[index[target]], target)
        raw.columns[index[target]] = None
    except _Problem as problem:
        where = f"column {target!r}" if problem.row is None else f"{raw.row_label(problem.row)}, column {target!r}"
        raise _error(source, problem.problem, problem.todo, where) from None
    notes = raw.notes + ((note,) if note else ())
    return Dataset(X=X, y=y, feature_names=tuple(feature_list), target_name=target, source=source,
                   label_map=label_map, notes=notes)


_FIX_CELL = "fix or remove that row"
_NOT_FINITE_TODO = "replace it with a finite number or remove that row"


def _not_finite(value: Any, x: float) -> str:
    kind = "NaN (not a number)" if math.isnan(x) else "infinite"
    return f"value {_quote(value)} is {kind}"


def _feature_column(values: Any) -> np.ndarray:
    """A feature column as finite float64, else :class:`_Problem` for its first bad cell."""
    if isinstance(values, np.ndarray):
        kind = values.dtype.kind
        if kind in "US":
            return _feature_column(_strings(values))
        if kind == "b":
            raise _Problem(None, "array has boolean dtype, not numbers", "store the column as 0/1 integers or floats")
        if kind not in "iuf":
            raise _Problem(None, f"array has dtype {values.dtype}, which is not a real number type",
                           "store features as integer or float arrays")
        column = np.asarray(values, dtype=np.float64)
        if not np.isfinite(column).all():
            bad = np.flatnonzero(~np.isfinite(column))
            i = int(bad[0])
            raise _Problem(i, _not_finite(values[i], float(column[i])), _NOT_FINITE_TODO)
        return column
    column = np.empty(len(values), dtype=np.float64)
    for i, value in enumerate(values):
        column[i] = _cell_to_float(i, value)
    return column


def _strings(values: np.ndarray) -> list[str]:
    """A numpy string array as Python strings (bytes decoded as UTF-8, undecodable bytes replaced)."""
    if values.dtype.kind == "S":
        return [item.decode("utf-8", "replace") for item in values.tolist()]
    return [str(item) for item in values.tolist()]


def _cell_to_float(i: int, value: Any) -> float:
    """One feature cell as a finite float, else :class:`_Problem` naming row ``i``."""
    if value is None:
        raise _Problem(i, "missing value (null)", "fill it in or remove that row")
    if isinstance(value, bool):
        raise _Problem(i, f"value {value!r} is a boolean, not a number", "write it as 0 or 1")
    if isinstance(value, (int, float)):
        try:
            x = float(value)
        except OverflowError:
            raise _Problem(i, f"value {_quote(value)} is too large for float64", _FIX_CELL) from None
    elif isinstance(value, str):
        text = value.strip()
        if not text:
            raise _Problem(i, "missing value (empty cell)", "fill it in or remove that row")
        try:
            x = float(text)
        except ValueError:
            hint = f" (a decimal comma? write {text.replace(',', '.')})" if _DECIMAL_COMMA.match(text) else ""
            raise _Problem(i, f"value {_quote(value)} is not a number{hint}",
                           "features must be numeric: fix the value, remove the row, or leave the column "
                           "out of features=") from None
    elif isinstance(value, bytes):
        raise _Problem(i, f"value is binary data ({len(value)} bytes), not a number", _FIX_CELL)
    else:
        raise _Problem(i, f"value {_quote(value)} is {_kind(value)}, not a number", _FIX_CELL)
    if not math.isfinite(x):
        raise _Problem(i, _not_finite(value, x), _NOT_FINITE_TODO)
    return x


_DECIMAL_COMMA = re.compile(r"^[+-]?\d+,\d+$")


def _kind(value: Any) -> str:
    """What a value is, in the words of the file it came from."""
    if isinstance(value, dict):
        return "an object (a JSON object)"
    if isinstance(value, (list, tuple)):
        return "a list"
    return f"of type {type(value).__name__}"


def _encode_target(values: Any, name: str) -> tuple[np.ndarray, dict[Any, int] | None, str | None]:
    """Labels as 0.0/1.0, the label map (None when they already were 0/1) and a note about it."""
    if isinstance(values, np.ndarray):
        kind = values.dtype.kind
        if kind in "iuf":
            numbers = np.asarray(values, dtype=np.float64)
            if not np.isfinite(numbers).all():
                i = int(np.flatnonzero(~np.isfinite(numbers))[0])
                raise _Problem(i, _not_finite(values[i], float(numbers[i])), _NOT_FINITE_TODO)
            return _binarize_numbers(numbers, name)
        if kind == "b":
            return _binarize([bool(v) for v in values.tolist()], name, numeric=False)
        if kind in "US":
            values = _strings(values)
        else:
            raise _Problem(None, f"array has dtype {values.dtype}, which cannot hold class labels",
                           "store the labels as numbers or strings")

    numbers: list[float] = []
    keys: list[Any] = []  # what each value is called if the labels turn out to be categorical
    numeric = True
    for i, value in enumerate(values):
        if value is None:
            raise _Problem(i, "missing value (null) in the target", "fill in the label or remove that row")
        if isinstance(value, bool):
            numeric = False
            keys.append(value)
            continue
        if isinstance(value, (int, float)):
            try:
                x = float(value)
            except OverflowError:
                raise _Problem(i, f"label {_quote(value)} is too large for float64", _FIX_CELL) from None
            numbers.append(x)
            keys.append(_fmt_number(x))
        elif isinstance(value, str):
            text = value.strip()
            if not text:
                raise _Problem(i, "missing value (empty cell) in the target", "fill in the label or remove that row")
            keys.append(text)
            try:
                numbers.append(float(text))
            except ValueError:
                numeric = False
        else:
            raise _Problem(i, f"label {_quote(value)} is {_kind(value)}, not a number or a string", _FIX_CELL)
    if numeric:
        for i, x in enumerate(numbers):
            if not math.isfinite(x):
                raise _Problem(i, _not_finite(values[i], x), _NOT_FINITE_TODO)
        return _binarize_numbers(np.asarray(numbers, dtype=np.float64), name, values)
    if not all(isinstance(key, bool) for key in keys):
        keys = [("true" if key else "false") if isinstance(key, bool) else key for key in keys]
    return _binarize(keys, name, numeric=False)


def _binarize_numbers(numbers: np.ndarray, name: str, written: Any = None):
    """Numeric labels as 0.0/1.0: two whole numbers (``{0, 1}`` kept, any other pair mapped in
    order); a label that is not a whole number (0.3, a probability or a measurement) is refused.
    Found with min, max and boolean masks, so that a large column is not copied."""
    low, high = float(numbers.min()), float(numbers.max())
    two = low != high and not np.count_nonzero((numbers != low) & (numbers != high))
    classes = [low, high] if two else np.unique(numbers).tolist()
    if not all(c.is_integer() for c in classes):
        i = int(np.flatnonzero(numbers != np.round(numbers))[0])
        shown = _quote(written[i]) if written is not None else _fmt_number(float(numbers[i]))
        raise _Problem(i, f"label {shown} is not a whole number: a numeric target holds class labels (two "
                       "integers such as 0 and 1), not probabilities or measurements",
                       "threshold or round the column into two classes, or choose another target=")
    if not two:
        return _binarize(classes[:6], name, numeric=True, n_classes=len(classes))
    y = (numbers == high).astype(np.float64)
    if (low, high) == (0.0, 1.0):
        return y, None, None
    return y, {low: 0, high: 1}, f"target {name!r}: mapped {_fmt_number(low)} -> 0, {_fmt_number(high)} -> 1"


def _binarize(keys: list[Any], name: str, numeric: bool,
              n_classes: int | None = None) -> tuple[np.ndarray, dict[Any, int] | None, str | None]:
    classes = sorted(set(keys))
    shown = [_fmt_number(c) if numeric else repr(c) for c in classes]
    n_classes = n_classes or len(classes)
    if n_classes == 1:
        raise _Problem(None, f"only one class ({shown[0]}) in the target; need two classes for binary "
                       "classification", "check the target column or use data that has both classes")
    if n_classes > 2:
        listed = ", ".join(shown[:5]) + (", ..." if n_classes > 5 else "")
        raise _Problem(None, f"the target has {n_classes} distinct values ({listed}); binary classification "
                       "needs exactly two", "choose a two-valued target= or recode the labels")
    codes = {label: code for code, label in enumerate(classes)}
    y = np.array([codes[key] for key in keys], dtype=np.float64)
    if numeric and classes == [0.0, 1.0]:
        return y, None, None
    note = f"target {name!r}: mapped {shown[0]} -> 0, {shown[1]} -> 1"
    return y, codes, note


# --------------------------------------------------------------------------------------------
# Writing


def write_table(dataset: Dataset, path: PathLike) -> None:
    """Write ``dataset`` to a ``.csv``, ``.json``, SQLite (table ``"data"``) or ``.npz`` file.

    Columns are the features in order, then the target, written as its 0/1 code (integers).
    Floats are written exactly (shortest round-trip ``repr``), so ``load_table(path,
    target=dataset.target_name)`` gives back identical ``X``, ``y`` and names. An existing file
    at ``path`` is replaced.
    """
    source = os.fspath(path)
    file = Path(source)
    fmt = _format_of(file)
    if fmt is None:
        raise _error(source, f"unsupported file extension {file.suffix!r}",
                     f"use one of: {', '.join(SUPPORTED_EXTENSIONS)}")
    names = [*dataset.feature_names, dataset.target_name]
    labels = [int(v) for v in dataset.y]
    if file.exists() and not file.is_dir():
        file.unlink()
    if fmt == "csv":
        with open(file, "w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle, lineterminator="\n")
            writer.writerow(names)
            for row, label in zip(dataset.X.tolist(), labels):
                writer.writerow([repr(x) for x in row] + [label])
    elif fmt == "json":
        records = [dict(zip(names, [*row, label])) for row, label in zip(dataset.X.tolist(), labels)]
        file.write_text(json.dumps(records, indent=1) + "\n", encoding="utf-8")
    elif fmt == "sqlite":
        columns = ", ".join([f"{_quote_identifier(n)} REAL" for n in dataset.feature_names]
                            + [f"{_quote_identifier(dataset.target_name)} INTEGER"])
        placeholders = ", ".join("?" * len(names))
        with closing(sqlite3.connect(file)) as connection, connection:
            connection.execute(f"CREATE TABLE {_quote_identifier(_SQLITE_TABLE)} ({columns})")
            connection.executemany(f"INSERT INTO {_quote_identifier(_SQLITE_TABLE)} VALUES ({placeholders})",
                                   [(*row, label) for row, label in zip(dataset.X.tolist(), labels)])
    else:  # npz, written member by member so that any column name works (savez reserves "file")
        arrays = [*(dataset.X[:, j] for j in range(dataset.n_features)), np.asarray(labels, dtype=np.int64)]
        with zipfile.ZipFile(file, "w", compression=zipfile.ZIP_STORED) as archive:
            for name, array in zip(names, arrays):
                with archive.open(name + ".npy", "w", force_zip64=True) as member:
                    np.lib.format.write_array(member, np.ascontiguousarray(array), allow_pickle=False)


