"""Reading a table from a file (CSV, JSON, SQLite, npz) into columns, before any conversion."""

from __future__ import annotations

import json
import os
import sqlite3
import zipfile
import zlib
from collections.abc import Callable
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .csv_reader import read_csv
from .errors import DataError, _check_names, _error, _names

#: File extensions :func:`load_table` and :func:`write_table` understand, and the format of each.
SUPPORTED_EXTENSIONS: dict[str, str] = {
    ".csv": "csv",
    ".json": "json",
    ".sqlite": "sqlite",
    ".sqlite3": "sqlite",
    ".db": "sqlite",
    ".npz": "npz",
}



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


def _read_csv(file: Path, source: str, table: str | None, progress=None) -> _Table:
    names, columns, n_rows, row_label, names_where, notes = read_csv(file, source, progress)
    return _Table(source=source, names=names, columns=columns, n_rows=n_rows, row_label=row_label,
                  names_where=names_where, notes=notes)


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


