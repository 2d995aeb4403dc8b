"""Data for the conformance suite: loading tables, synthetic data, seeded splits and shuffle orders.

Everything here is numpy and the standard library only, so that the MLX and the PyTorch pipelines
receive bit-identical float64 arrays, identical train/val/test indices and identical per-epoch
minibatch orders: every random draw happens once, here, in numpy.

Supported files (chosen by extension, case-insensitive):

* ``.csv`` -- UTF-8 text, a header row, comma-separated (read with :mod:`csv`; blank lines are
  skipped, cells are stripped of surrounding whitespace before they are parsed).
* ``.json`` -- UTF-8 text holding a list of records: ``[{"x1": 1.0, "y": 0}, ...]``, every record
  with the same keys; the column order is the key order of the first record.
* ``.sqlite`` / ``.sqlite3`` / ``.db`` -- a SQLite database, opened read-only; ``table`` picks the
  table (or view), which may be left out when the database holds exactly one.
* ``.npz`` -- a numpy archive with one 1-D array per column (the array names are the column
  names), or the form with a 2-D ``X`` and a 1-D ``y`` (features named ``x1..xd``, target ``y``).

Features must be numeric and finite. The target may hold any two distinct values: ``{0, 1}`` is
kept as it is, any other pair (``{-1, 1}``, ``{1, 2}``, ``{"no", "yes"}``...) is mapped in sorted
order to 0 and 1, and the mapping is recorded in :attr:`Dataset.label_map` and
:attr:`Dataset.notes`.

Every problem with the input raises :class:`DataError`, whose message is one line of the form
``<file>: <where>: <what is wrong>; <what to do>``, where ``<where>`` names the row (1-based data
rows; for CSV also the physical line, counting the header as line 1) and the column when known.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import sqlite3
import zipfile
import zlib
from collections.abc import Callable, Sequence
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Union

import numpy as np

__all__ = [
    "SUPPORTED_EXTENSIONS",
    "DataError",
    "Dataset",
    "SplitIndices",
    "apply_split",
    "document_dataset",
    "load_table",
    "shuffle_orders",
    "split_indices",
    "split_sizes",
    "synthetic_dataset",
    "write_table",
]

PathLike = Union[str, "os.PathLike[str]"]

#: File extensions :func:`load_table` and :func:`write_table` understand, and the format of each.
SUPPORTED_EXTENSIONS: dict[str, str] = {
    ".csv": "csv",
    ".json": "json",
    ".sqlite": "sqlite",
    ".sqlite3": "sqlite",
    ".db": "sqlite",
    ".npz": "npz",
}

#: Column names tried, in order, when no target is given; the last column is the fallback.
DEFAULT_TARGETS = ("y", "target", "label")

_SQLITE_TABLE = "data"  # the table write_table creates
_MAX_LISTED = 12  # how many names an error message lists before "..."
_MAX_VALUE_CHARS = 40  # how much of an offending value an error message quotes


# --------------------------------------------------------------------------------------------
# Errors


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


# --------------------------------------------------------------------------------------------
# Dataset


@dataclass(frozen=True, eq=False)
class Dataset:
    """A binary classification table, ready for either framework.

    ``X`` is float64 of shape ``(n, d)`` and finite; ``y`` is float64 of shape ``(n,)`` holding
    only 0.0 and 1.0. ``label_map`` maps the original target values to 0/1 when they were not
    already ``{0, 1}`` (``None`` otherwise); ``notes`` are human-readable remarks about how the
    data was read. The arrays are validated (and converted to float64) on construction; treat
    them as read-only and use :func:`apply_split` to get private copies. ``==`` is identity
    (arrays have no single truth value), so compare fields with numpy instead.
    """

    X: np.ndarray
    y: np.ndarray
    feature_names: tuple[str, ...]
    target_name: str
    source: str
    label_map: dict[Any, int] | None = None
    notes: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        X = np.asarray(self.X, dtype=np.float64)
        y = np.asarray(self.y, dtype=np.float64)
        names = tuple(str(name) for name in self.feature_names)
        where = "Dataset"
        if X.ndim != 2 or X.shape[0] < 1 or X.shape[1] < 1:
            raise _error(self.source, f"X must be 2-D with at least one row and column, got shape {X.shape}",
                         "pass an (n_samples, n_features) array", where)
        if y.shape != (X.shape[0],):
            raise _error(self.source, f"y must have shape ({X.shape[0]},) to match X, got {y.shape}",
                         "pass one label per row of X", where)
        if not np.isfinite(X).all():
            raise _error(self.source, "X contains NaN or infinity", "pass finite features", where)
        if not np.isin(y, (0.0, 1.0)).all():
            raise _error(self.source, "y must hold only 0.0 and 1.0", "encode the labels as 0/1", where)
        if len(names) != X.shape[1]:
            raise _error(self.source, f"{len(names)} feature names for {X.shape[1]} columns of X",
                         "pass one name per column", where)
        all_names = (*names, str(self.target_name))
        if len(set(all_names)) != len(all_names):
            raise _error(self.source, f"column names are not unique: {_names(all_names)}",
                         "give every feature and the target a distinct name", where)
        object.__setattr__(self, "X", X)
        object.__setattr__(self, "y", y)
        object.__setattr__(self, "feature_names", names)
        object.__setattr__(self, "target_name", str(self.target_name))
        object.__setattr__(self, "label_map", None if self.label_map is None else dict(self.label_map))
        object.__setattr__(self, "notes", tuple(self.notes))

    @property
    def n_samples(self) -> int:
        """Number of rows."""
        return int(self.X.shape[0])

    @property
    def n_features(self) -> int:
        """Number of feature columns."""
        return int(self.X.shape[1])


def document_dataset() -> Dataset:
    """The seed document's five samples: ``X = [[1, 2], ..., [5, 6]]``, ``y = [0, 1, 0, 1, 0]``."""
    return Dataset(
        X=np.array([[1, 2], [2, 3], [3, 4], [4, 5], [5, 6]], dtype=np.float64),
        y=np.array([0, 1, 0, 1, 0], dtype=np.float64),
        feature_names=("x1", "x2"),
        target_name="y",
        source="document",
    )


def synthetic_dataset(n_samples: int, n_features: int = 2, seed: int = 0) -> Dataset:
    """A seeded, learnable but not separable binary problem whose features need standardizing.

    With ``rng = np.random.default_rng(seed)``: the labels are exactly ``n_samples // 2`` ones and
    the rest zeros, in a random order; a random unit direction ``u`` is drawn, and each sample is
    ``z ~ N(+u, I)`` for class 1 and ``N(-u, I)`` for class 0 (so the Bayes error is
    ``Phi(-1)``, about 16%). Column ``j`` of ``z`` is then scaled by ``10 ** linspace(-1, 2, d)[j]``
    (0.1 up to 100) and shifted by an offset drawn uniformly from ``[-20, 20]``.
    """
    source = f"synthetic(n={n_samples}, n_features={n_features}, seed={seed})"
    n = _check_int(source, "n_samples", n_samples, minimum=1)
    d = _check_int(source, "n_features", n_features, minimum=1)
    seed = _check_int(source, "seed", seed, minimum=0)
    rng = np.random.default_rng(seed)
    n_pos = n // 2
    y = rng.permutation(np.concatenate([np.zeros(n - n_pos), np.ones(n_pos)]))
    direction = rng.standard_normal(d)
    norm = float(np.linalg.norm(direction))
    direction = direction / norm if norm > 0 else np.eye(d)[0]
    z = rng.standard_normal((n, d)) + np.outer(2.0 * y - 1.0, direction)
    scales = 10.0 ** np.linspace(-1.0, 2.0, d)
    offsets = rng.uniform(-20.0, 20.0, d)
    X = z * scales + offsets
    note = (
        "two Gaussian classes with means at +/-u (u a random unit vector) and unit variance; "
        f"columns scaled by {', '.join(f'{s:.3g}' for s in scales)} and shifted by "
        f"{', '.join(f'{o:.3g}' for o in offsets)}"
    )
    return Dataset(
        X=X,
        y=y,
        feature_names=tuple(f"x{j + 1}" for j in range(d)),
        target_name="y",
        source=source,
        notes=(note,),
    )


def _check_int(source: str, name: str, value: Any, minimum: int) -> int:
    """``value`` as an int of at least ``minimum``, else :class:`DataError`."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise _error(source, f"{name} must be an integer, got {value!r}", f"pass an integer >= {minimum}")
    if value < minimum:
        raise _error(source, f"{name} must be >= {minimum}, got {value}", f"pass {name} >= {minimum}")
    return int(value)


# --------------------------------------------------------------------------------------------
# Loading


@dataclass
class _Table:
    """A table as read from a file, before column selection and conversion."""

    source: str
    names: list[str]
    columns: list[Any]  # one list (of Python values) or 1-D numpy array per column
    n_rows: int
    row_label: Callable[[int], str]  # 0-based row index -> "row 3 (line 4)"
    names_where: str = "columns"  # where the names came from, for messages
    notes: tuple[str, ...] = ()


def load_table(
    path: PathLike,
    target: str | None = None,
    features: Sequence[str] | None = None,
    table: str | None = None,
) -> Dataset:
    """Read a binary classification table from a ``.csv``, ``.json``, SQLite or ``.npz`` file.

    ``target`` defaults to the column named ``y``, else ``target``, else ``label``, else the last
    column; ``features`` default to all other columns, in file order. ``table`` selects the SQLite
    table (needed only when the database holds more than one). Raises :class:`DataError` with a
    one-line message for anything wrong with the file or the arguments.
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
    reader = {"csv": _read_csv, "json": _read_json, "sqlite": _read_sqlite, "npz": _read_npz}[fmt]
    raw = reader(file, source, table)
    return _build_dataset(raw, target, features)


def _format_of(file: Path) -> str | None:
    return SUPPORTED_EXTENSIONS.get(file.suffix.lower())


_EMPTY_HINTS = {
    "csv": "write a header row and data rows into it",
    "json": 'write a list of records into it, like [{"x1": 1.0, "y": 0}, ...]',
    "sqlite": "write the data into a table of a SQLite database",
    "npz": "save the columns into it with numpy.savez",
}


def _check_path(file: Path, source: str) -> str:
    """The format of ``file``, after checking that it is an existing, non-empty, known file."""
    supported = ", ".join(SUPPORTED_EXTENSIONS)
    if not file.exists():
        raise _error(source, "no such file", "check the path (relative paths start from the working "
                     f"directory {os.getcwd()})")
    if file.is_dir():
        raise _error(source, "is a directory, not a data file", f"pass the path of a file ({supported})")
    fmt = _format_of(file)
    if fmt is None:
        what = f"unsupported file extension {file.suffix!r}" if file.suffix else "no file extension"
        raise _error(source, what, f"use one of the supported extensions: {supported}")
    try:
        size = file.stat().st_size
    except OSError as exc:
        raise _error(source, f"cannot read the file ({exc.strerror or exc})", "check its permissions") from exc
    if size == 0:
        raise _error(source, "file is empty (0 bytes)", _EMPTY_HINTS[fmt])
    return fmt


def _read_text(file: Path, source: str, fmt: str) -> str:
    """The file decoded as UTF-8 (a byte-order mark is dropped)."""
    try:
        data = file.read_bytes()
    except OSError as exc:
        raise _error(source, f"cannot read the file ({exc.strerror or exc})", "check its permissions") from exc
    if b"\x00" in data:
        line = data.count(b"\n", 0, data.index(b"\x00")) + 1
        raise _error(source, f"is not UTF-8 text (it contains NUL bytes, first on line {line}: a binary "
                     "or UTF-16 file?)", f"save the data as UTF-8 {fmt.upper()} text")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise _error(source, f"is not UTF-8 text (byte 0x{data[exc.start]:02x} at offset {exc.start}, "
                     f"line {line}, is not valid UTF-8)", f"save the file as UTF-8 {fmt.upper()}") from exc
    if not text.strip():
        raise _error(source, "file is empty (only whitespace)", _EMPTY_HINTS[fmt])
    return text


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


def _is_blank(fields: list[str]) -> bool:
    return not fields or (len(fields) == 1 and not fields[0].strip())


def _read_csv(file: Path, source: str, table: str | None) -> _Table:
    text = _read_text(file, source, "csv")
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    header: list[str] | None = None
    header_line = 0
    rows: list[list[str]] = []
    lines: list[int] = []  # the physical line each data row starts on
    previous_end = 0
    try:
        for fields in reader:
            start, previous_end = previous_end + 1, reader.line_num
            if _is_blank(fields):
                continue
            if header is None:
                header, header_line = [name.strip() for name in fields], start
                continue
            if len(fields) != len(header):
                raise _error(
                    source,
                    f"has {len(fields)} fields but the header (line {header_line}) has {len(header)}",
                    "give every row one value per header column (look for missing or extra commas, "
                    "or unquoted commas inside values)",
                    f"row {len(rows) + 1} (line {start})",
                )
            rows.append(fields)
            lines.append(start)
    except csv.Error as exc:
        raise _error(source, f"is not valid CSV ({exc})", "fix the quoting on that line",
                     f"line {reader.line_num}") from exc
    if header is None:
        raise _error(source, "no header row", "write a header row of column names, then the data rows")
    _check_names(source, header, f"header (line {header_line})")
    if not rows:
        raise _error(source, "no data rows (only a header)", "add data rows below the header")
    return _Table(
        source=source,
        names=header,
        columns=[list(column) for column in zip(*rows)],
        n_rows=len(rows),
        row_label=lambda i: f"row {i + 1} (line {lines[i]})",
        names_where=f"header (line {header_line})",
    )


class _JsonObject(dict):
    """A JSON object that remembers keys it saw more than once."""

    duplicates: tuple[str, ...] = ()


def _json_object(pairs: list[tuple[str, Any]]) -> _JsonObject:
    obj = _JsonObject()
    duplicates = []
    for key, value in pairs:
        if key in obj:
            duplicates.append(key)
        obj[key] = value
    obj.duplicates = tuple(duplicates)
    return obj


def _json_type(value: Any) -> str:
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, bool):
        return "a boolean"
    if value is None:
        return "null"
    return "a number"


def _read_json(file: Path, source: str, table: str | None) -> _Table:
    text = _read_text(file, source, "json")
    expected = 'a list of records, one object per row, like [{"x1": 1.0, "x2": 2.0, "y": 0}, ...]'
    try:
        document = json.loads(text, object_pairs_hook=_json_object)
    except json.JSONDecodeError as exc:
        raise _error(source, f"invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}",
                     f"fix the syntax there (expected {expected})") from exc
    if not isinstance(document, list):
        raise _error(source, f"the top-level JSON value is {_json_type(document)}, not a list of records",
                     f"write the data as {expected}")
    if not document:
        raise _error(source, "no data rows (the list of records is empty)", "add records to the list")
    names: list[str] = []
    for i, record in enumerate(document):
        where = f"row {i + 1}"
        if not isinstance(record, dict):
            raise _error(source, f"is {_json_type(record)}, not an object (record)",
                         f"write every row as an object; expected {expected}", where)
        if getattr(record, "duplicates", ()):
            raise _error(source, f"has the key {record.duplicates[0]!r} twice (duplicate column)",
                         "keep one value per key", where)
        if i == 0:
            names = list(record)
            _check_names(source, names, "row 1")
        elif len(record) != len(names) or any(name not in record for name in names):
            missing = [name for name in names if name not in record]
            extra = [name for name in record if name not in names]
            parts = ([f"missing {_names(missing)}"] if missing else []) + (
                [f"unexpected {_names(extra)}"] if extra else [])
            raise _error(source, f"has different keys from row 1 ({', '.join(parts)})",
                         f"give every record the same keys: {_names(names)}", where)
    return _Table(
        source=source,
        names=names,
        columns=[[record[name] for record in document] for name in names],
        n_rows=len(document),
        row_label=lambda i: f"row {i + 1}",
        names_where="row 1",
    )


def _quote_identifier(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _read_sqlite(file: Path, source: str, table: str | None) -> _Table:
    uri = file.resolve().as_uri() + "?mode=ro"
    try:
        connection = sqlite3.connect(uri, uri=True)
    except sqlite3.Error as exc:
        raise _error(source, f"cannot open the SQLite database ({exc})", "check the file and its permissions") from exc
    with closing(connection):
        try:
            tables = [row[0] for row in connection.execute(
                "SELECT name FROM sqlite_master WHERE type IN ('table', 'view') "
                "AND name NOT LIKE 'sqlite_%' ORDER BY name")]
        except sqlite3.DatabaseError as exc:
            raise _error(source, f"is not a SQLite database ({exc})",
                         "check the file, or give it the extension of its real format") from exc
        if not tables:
            raise _error(source, "the SQLite database contains no tables", "write the data into a table")
        if table is None:
            if len(tables) > 1:
                raise _error(source, f"the database has {len(tables)} tables ({_names(tables)})",
                             "pass table= to choose one")
            table = tables[0]
        elif table not in tables:
            raise _error(source, f"no table named {table!r}; the tables are {_names(tables)}",
                         "pass table= one of them")
        try:
            cursor = connection.execute(f"SELECT * FROM {_quote_identifier(table)}")
            names = [str(column[0]) for column in cursor.description]
            rows = cursor.fetchall()
        except sqlite3.Error as exc:
            raise _error(source, f"cannot read table {table!r} ({exc})", "check the table") from exc
    table_name = table
    _check_names(source, names, f"table {table_name!r}")
    if not rows:
        raise _error(source, f"no data rows (table {table_name!r} is empty)", "insert rows into the table")
    return _Table(
        source=source,
        names=names,
        columns=[list(column) for column in zip(*rows)],
        n_rows=len(rows),
        row_label=lambda i: f"table {table_name!r}, row {i + 1}",
        names_where=f"table {table_name!r}",
    )


def _read_npz(file: Path, source: str, table: str | None) -> _Table:
    todo = "write it with numpy.savez(path, x1=..., x2=..., y=...) (1-D arrays) or numpy.savez(path, X=..., y=...)"
    with open(file, "rb") as handle:
        magic = handle.read(6)
    if magic == b"\x93NUMPY":
        raise _error(source, "holds a single .npy array, not an .npz archive of named arrays", todo)
    if not zipfile.is_zipfile(file):
        raise _error(source, "is not a readable .npz archive (not a zip file)", todo)
    arrays: dict[str, np.ndarray] = {}
    try:
        with np.load(file, allow_pickle=False) as archive:
            for name in archive.files:
                try:
                    value = archive[name]
                except ValueError as exc:
                    if "allow_pickle" in str(exc) or "Object arrays" in str(exc):
                        raise _error(source, f"array {name!r} holds Python objects (dtype object), which are "
                                     "not loaded for safety", "store numbers or strings instead") from exc
                    raise
                if not isinstance(value, np.ndarray):
                    raise _error(source, f"archive member {name!r} is not a .npy array", todo)
                arrays[name] = value
    except DataError:
        raise
    except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile, zlib.error) as exc:
        raise _error(source, f"is not a readable .npz archive ({type(exc).__name__}: {exc})", todo) from exc
    if not arrays:
        raise _error(source, "the archive contains no arrays", todo)

    notes: tuple[str, ...] = ()
    if "X" in arrays and arrays["X"].ndim == 2:
        X = arrays["X"]
        others = [name for name in arrays if name not in ("X", "y")]
        if others:
            raise _error(source, f"has a 2-D array 'X' and also {_names(others)}; the X/y form holds only 'X' and 'y'",
                         "save just X and y, or save every column as its own 1-D array")
        if "y" not in arrays or arrays["y"].ndim != 1:
            got = "no 'y'" if "y" not in arrays else f"'y' with shape {arrays['y'].shape}"
            raise _error(source, f"has a 2-D array 'X' but {got}", "save a 1-D target array named 'y' alongside X")
        if X.shape[0] != arrays["y"].shape[0]:
            raise _error(source, f"'X' has {X.shape[0]} rows but 'y' has length {arrays['y'].shape[0]}",
                         "give X one row per entry of y")
        if X.shape[1] == 0:
            raise _error(source, "'X' has no columns", "save at least one feature column in X")
        names = [f"x{j + 1}" for j in range(X.shape[1])] + ["y"]
        columns: list[Any] = [X[:, j] for j in range(X.shape[1])] + [arrays["y"]]
        notes = (f"npz X/y form: features named x1..x{X.shape[1]}, target 'y'",)
    else:
        for name, value in arrays.items():
            if value.ndim != 1:
                shape = "a scalar (0-D)" if value.ndim == 0 else f"{value.ndim}-D with shape {value.shape}"
                raise _error(source, f"array {name!r} is {shape}, but every column must be a 1-D array",
                             "store each column as its own 1-D array, or use the X/y form (2-D 'X' and 1-D 'y')")
        names = list(arrays)
        columns = list(arrays.values())
        first = names[0]
        for name in names[1:]:
            if len(arrays[name]) != len(arrays[first]):
                raise _error(source, f"array {name!r} has length {len(arrays[name])} but {first!r} has length "
                             f"{len(arrays[first])}", "give every column array the same length")
    _check_names(source, names, "array names")
    n_rows = len(columns[0])
    if n_rows == 0:
        raise _error(source, "no data rows (the arrays are empty)", "save non-empty arrays")
    return _Table(
        source=source,
        names=names,
        columns=columns,
        n_rows=n_rows,
        row_label=lambda i: f"row {i + 1} (index {i})",
        names_where="array names",
        notes=notes,
    )


# --------------------------------------------------------------------------------------------
# Column selection and conversion


def _build_dataset(raw: _Table, target: str | None, features: Sequence[str] | None) -> Dataset:
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
    X = np.empty((raw.n_rows, len(feature_list)), dtype=np.float64)
    first: tuple[int, str, _Problem] | None = None  # the earliest bad cell, by row then feature order
    for j, name in enumerate(feature_list):
        try:
            X[:, j] = _feature_column(raw.columns[index[name]])
        except _Problem as problem:
            if problem.row is None:
                raise _error(source, problem.problem, problem.todo, f"column {name!r}") from None
            if first is None or problem.row < first[0]:
                first = (problem.row, name, problem)
    if first is not None:
        row, name, problem = first
        raise _error(source, problem.problem, problem.todo, f"{raw.row_label(row)}, column {name!r}")

    try:
        y, label_map, note = _encode_target(raw.columns[index[target]], target)
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
        column = values.astype(np.float64)
        bad = np.flatnonzero(~np.isfinite(column))
        if bad.size:
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
            raise _Problem(i, f"value {_quote(value)} is not a number",
                           "features must be numeric: fix the value, remove the row, or leave the column "
                           "out of features=") from None
    elif isinstance(value, bytes):
        raise _Problem(i, f"value is binary data ({len(value)} bytes), not a number", _FIX_CELL)
    else:
        raise _Problem(i, f"value {_quote(value)} is {type(value).__name__}, not a number", _FIX_CELL)
    if not math.isfinite(x):
        raise _Problem(i, _not_finite(value, x), _NOT_FINITE_TODO)
    return x


def _encode_target(values: Any, name: str) -> tuple[np.ndarray, dict[Any, int] | None, str | None]:
    """Labels as 0.0/1.0, the label map (None when they already were 0/1) and a note about it."""
    if isinstance(values, np.ndarray):
        kind = values.dtype.kind
        if kind in "iuf":
            numbers = values.astype(np.float64)
            bad = np.flatnonzero(~np.isfinite(numbers))
            if bad.size:
                i = int(bad[0])
                raise _Problem(i, _not_finite(values[i], float(numbers[i])), _NOT_FINITE_TODO)
            return _binarize(numbers.tolist(), name, numeric=True)
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
            raise _Problem(i, f"label {_quote(value)} is {type(value).__name__}, not a number or a string",
                           _FIX_CELL)
    if numeric:
        for i, x in enumerate(numbers):
            if not math.isfinite(x):
                raise _Problem(i, _not_finite(values[i], x), _NOT_FINITE_TODO)
        return _binarize(numbers, name, numeric=True)
    if not all(isinstance(key, bool) for key in keys):
        keys = [("true" if key else "false") if isinstance(key, bool) else key for key in keys]
    return _binarize(keys, name, numeric=False)


def _binarize(keys: list[Any], name: str, numeric: bool) -> tuple[np.ndarray, dict[Any, int] | None, str | None]:
    classes = sorted(set(keys))
    shown = [_fmt_number(c) if numeric else repr(c) for c in classes]
    if len(classes) == 1:
        raise _Problem(None, f"only one class ({shown[0]}) in the target; need two classes for binary "
                       "classification", "check the target column or use data that has both classes")
    if len(classes) > 2:
        listed = ", ".join(shown[:5]) + (", ..." if len(classes) > 5 else "")
        raise _Problem(None, f"the target has {len(classes)} distinct values ({listed}); binary classification "
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


# --------------------------------------------------------------------------------------------
# Splits and shuffles


@dataclass(frozen=True, eq=False)
class SplitIndices:
    """Row indices of the train, validation and test sets (int64, disjoint, covering ``0..n-1``).

    The indices are kept in the random order in which they were drawn, not sorted, so that
    ``X[idx.train]`` is already shuffled; both frameworks index with the same arrays.
    """

    train: np.ndarray
    val: np.ndarray
    test: np.ndarray

    def __post_init__(self) -> None:
        for name in ("train", "val", "test"):
            array = np.asarray(getattr(self, name))
            if array.ndim != 1 or (array.size and array.dtype.kind not in "iu"):
                raise DataError(f"SplitIndices: {name} must be a 1-D integer array, got {array.dtype} with "
                                f"shape {array.shape}; build it with split_indices")
            object.__setattr__(self, name, array.astype(np.int64))


def _check_fraction(name: str, value: Any) -> float:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise DataError(f"split_indices: {name} must be a number in [0, 1), got {value!r}; pass e.g. {name}=0.2")
    x = float(value)
    if not (0.0 <= x < 1.0):
        raise DataError(f"split_indices: {name} must be in [0, 1), got {value!r}; pass e.g. {name}=0.2 "
                        "(or 0 for no such split)")
    return x


def _count(fraction: float, n: int) -> int:
    """``ceil(fraction * n)`` (as scikit-learn sizes a test set), at least 1 when ``fraction > 0``.

    A product within 1e-9 (relative) of an integer counts as that integer, so that e.g.
    ``0.07 * 100 = 7.000000000000001`` gives 7, not 8.
    """
    if fraction == 0.0 or n == 0:
        return 0
    product = fraction * n
    nearest = round(product)
    count = nearest if abs(product - nearest) <= 1e-9 * max(1.0, product) else math.ceil(product)
    return max(1, int(count))


def split_sizes(n: int, val_fraction: float = 0.2, test_fraction: float = 0.2) -> tuple[int, int, int]:
    """``(n_train, n_val, n_test)`` for ``n`` samples; raises :class:`DataError` if infeasible.

    ``n_test = ceil(test_fraction * n)`` and ``n_val = ceil(val_fraction * n)`` (0 for a zero
    fraction), ``n_train`` is the rest; train must get at least one sample.
    """
    n = _check_int("split_indices", "n", n, minimum=0)
    val = _check_fraction("val_fraction", val_fraction)
    test = _check_fraction("test_fraction", test_fraction)
    if val + test >= 1.0:
        raise DataError(f"split_indices: val_fraction + test_fraction = {val + test:g} leaves nothing to train on; "
                        "make their sum less than 1")
    n_test, n_val = _count(test, n), _count(val, n)
    n_train = n - n_test - n_val
    if n_train < 1:
        need = next((m for m in range(n + 1, n + 10**6) if m - _count(test, m) - _count(val, m) >= 1), None)
        needed = f"at least {need}" if need is not None else "many more"
        raise DataError(
            f"split_indices: {n} samples are too few for val_fraction={val_fraction}, test_fraction={test_fraction} "
            f"({n_test} test + {n_val} val leave {max(n_train, 0)} for training; the split needs {needed} samples); "
            "use more data or smaller (or zero) val/test fractions")
    return n_train, n_val, n_test


def split_indices(
    y: np.ndarray,
    val_fraction: float = 0.2,
    test_fraction: float = 0.2,
    seed: int = 0,
    stratify: bool = False,
) -> SplitIndices:
    """Seeded train/validation/test indices for labels ``y``, drawn once in numpy.

    Sizes come from :func:`split_sizes` (5 samples with the defaults: 3 / 1 / 1). Unstratified:
    ``perm = np.random.default_rng(seed).permutation(n)``; test is ``perm[:n_test]``, val the next
    ``n_val`` and train the rest. Stratified: the split sizes are the same; each class's share of
    each split is proportional to its size (rounded so that every class and every split total is
    exact, each count within one of its proportional share), with at least one sample of every
    class in every non-empty split, which needs every class to have at least one member per split
    and every split to have room for every class (else :class:`DataError`). The same rng then
    permutes each class's indices (classes in sorted order), deals them out test, val, train, and
    finally permutes each split's indices (test, val, train) so that the classes are interleaved.
    """
    labels = np.asarray(y)
    if labels.ndim != 1:
        raise DataError(f"split_indices: y must be 1-D (one label per sample), got shape {labels.shape}; pass y")
    n = int(labels.shape[0])
    n_train, n_val, n_test = split_sizes(n, val_fraction, test_fraction)
    seed = _check_int("split_indices", "seed", seed, minimum=0)
    rng = np.random.default_rng(seed)
    if not stratify:
        perm = rng.permutation(n).astype(np.int64)
        return SplitIndices(train=perm[n_test + n_val:], val=perm[n_test:n_test + n_val], test=perm[:n_test])

    classes, inverse = np.unique(labels, return_inverse=True)
    inverse = inverse.reshape(-1)
    counts = np.bincount(inverse, minlength=len(classes))
    split_names = ("test", "val", "train")
    sizes = (n_test, n_val, n_train)
    active = [s for s in range(3) if sizes[s] > 0]
    for c, count in enumerate(counts):
        if count < len(active):
            raise DataError(
                f"split_indices: stratify=True puts every class in each of the {len(active)} splits "
                f"({', '.join(split_names[s] for s in active)}), but class {_label_text(classes[c])} has only {count} "
                f"sample(s); use stratify=False, a zero val/test fraction, or more data of that class")
    for s in active:
        if sizes[s] < len(classes):
            raise DataError(
                f"split_indices: stratify=True puts all {len(classes)} classes in every split, but the "
                f"{split_names[s]} split has only {sizes[s]} of the {n} samples; use stratify=False, a larger "
                f"{split_names[s]} fraction, or more data")
    allocation = _allocate([int(c) for c in counts], [sizes[s] for s in active])
    parts: list[list[np.ndarray]] = [[], [], []]
    for c in range(len(classes)):
        members = np.flatnonzero(inverse == c)
        members = members[rng.permutation(members.size)]
        start = 0
        for slot, s in enumerate(active):
            take = allocation[c][slot]
            parts[s].append(members[start:start + take])
            start += take
    shuffled = []
    for s in range(3):  # test, val, train
        joined = np.concatenate(parts[s]).astype(np.int64) if parts[s] else np.empty(0, dtype=np.int64)
        shuffled.append(joined[rng.permutation(joined.size)])
    test, val, train = shuffled
    return SplitIndices(train=train, val=val, test=test)


def _label_text(label: Any) -> str:
    """A class label for a message: numbers as written by hand, anything else quoted."""
    value = label.item() if isinstance(label, np.generic) else label
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return _fmt_number(float(value))
    return repr(value)


def _allocate(counts: list[int], sizes: list[int]) -> list[list[int]]:
    """An integer matrix with row sums ``counts`` and column sums ``sizes``, near proportional.

    Each cell starts at the floor of its share ``counts[c] * sizes[s] / n``; the rows' missing
    units are then placed greedily, row by row, in the columns still missing the most (Ryser's
    construction, which always succeeds here because the fractional parts form a feasible
    transportation problem), preferring larger fractional parts. So every cell is within one of
    its share. Finally every zero cell is raised to one by a 2x2 exchange that keeps all sums
    (possible because every row sum is at least the number of columns and every column sum at
    least the number of rows).
    """
    n = sum(counts)
    rows, cols = len(counts), len(sizes)
    share = [[counts[c] * sizes[s] for s in range(cols)] for c in range(rows)]  # times n, exact
    alloc = [[share[c][s] // n for s in range(cols)] for c in range(rows)]
    col_need = [sizes[s] - sum(alloc[c][s] for c in range(rows)) for s in range(cols)]
    for c in range(rows):
        row_need = counts[c] - sum(alloc[c])
        order = sorted(range(cols), key=lambda s: (-col_need[s], -(share[c][s] % n), s))
        for s in order[:row_need]:
            if col_need[s] <= 0:  # impossible by Ryser's theorem; guard against a logic error
                raise RuntimeError("stratified split allocation failed")
            alloc[c][s] += 1
            col_need[s] -= 1
    if any(col_need):
        raise RuntimeError("stratified split allocation failed")

    def surplus(c: int, s: int) -> int:
        return alloc[c][s] * n - share[c][s]

    for c in range(rows):
        for s in range(cols):
            while alloc[c][s] == 0:
                s2 = max((t for t in range(cols) if alloc[c][t] >= 2), key=lambda t: (surplus(c, t), -t))
                c2 = max((d for d in range(rows) if alloc[d][s] >= 2), key=lambda d: (surplus(d, s), -d))
                alloc[c][s] += 1
                alloc[c][s2] -= 1
                alloc[c2][s] -= 1
                alloc[c2][s2] += 1
    return alloc


def apply_split(dataset: Dataset, idx: SplitIndices) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """``{"train": (X, y), "val": (X, y), "test": (X, y)}``: float64 copies, rows in index order."""
    n = dataset.n_samples
    everything = np.concatenate([idx.train, idx.val, idx.test])
    if everything.size != n or not np.array_equal(np.sort(everything), np.arange(n)):
        raise _error(dataset.source, f"the split indices do not partition the {n} rows (they cover "
                     f"{everything.size} indices)", "build them with split_indices(dataset.y, ...) for this dataset")
    return {
        name: (np.array(dataset.X[rows], dtype=np.float64), np.array(dataset.y[rows], dtype=np.float64))
        for name, rows in (("train", idx.train), ("val", idx.val), ("test", idx.test))
    }


def shuffle_orders(n: int, epochs: int, seed: int) -> list[np.ndarray]:
    """The minibatch order of each epoch, drawn once in numpy: ``rng.permutation(n)`` per epoch.

    ``rng = np.random.default_rng(seed)``; both frameworks iterate the training rows in these
    orders, so their minibatches are identical.
    """
    n = _check_int("shuffle_orders", "n", n, minimum=1)
    epochs = _check_int("shuffle_orders", "epochs", epochs, minimum=0)
    seed = _check_int("shuffle_orders", "seed", seed, minimum=0)
    rng = np.random.default_rng(seed)
    return [rng.permutation(n).astype(np.int64) for _ in range(epochs)]
