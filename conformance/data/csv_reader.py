"""Reading a CSV file into columns, streamed: numbers go straight into float64 arrays.

A 200 MB file of 4.8 million rows is read in a few seconds and about three times its float32 size
in memory (the rows are never all held as Python strings): rows are parsed in chunks, and each
column stays a float64 array for as long as every cell in it is a finite number. A column with any
other cell (a label such as "yes", an empty cell, a typo) is kept as its text instead, so that the
messages about it quote the cell exactly as written.

The delimiter is the comma; a header line without commas but with semicolons, tabs or vertical
bars is read with that delimiter, and a note says so.
"""

from __future__ import annotations

import codecs
import csv
import io
import os
from bisect import bisect_right
from collections.abc import Callable
from pathlib import Path

import numpy as np

from .errors import _check_names, _error, _quote

_HEAD_BYTES = 1 << 16  # checked for NUL bytes and UTF-8, and searched for the delimiter, before reading
_CHUNK_ROWS = 1 << 15  # rows parsed at a time
_OTHER_DELIMITERS = {";": "semicolon", "\t": "tab", "|": "vertical bar"}
_EMPTY = "write a header row and data rows into it"

Progress = Callable[[int, int], None]  # (bytes read, bytes in the file)


class _Column:
    """One column: float64 while every cell is a finite number, else the cells' text."""

    def __init__(self, capacity: int):
        self.numbers: np.ndarray | None = np.empty(capacity, dtype=np.float64)
        self.texts: list[str] | None = None
        self.n = 0
        self._pool: dict[str, str] = {}  # repeated text (labels) shares one string object

    def extend(self, cells: tuple[str, ...], text_so_far: Callable[[int], list[str]]) -> None:
        if self.numbers is not None:
            try:
                block = np.fromiter(map(float, cells), dtype=np.float64, count=len(cells))
            except ValueError:
                block = None
            if block is not None and np.isfinite(block).all():
                self.numbers[self.n:self.n + len(cells)] = block
                self.n += len(cells)
                return
            self.texts, self.numbers = (text_so_far(self.n) if self.n else []), None
        pool = self._pool
        if len(pool) < 100_000:
            self.texts.extend(pool.setdefault(cell, cell) for cell in cells)
        else:
            self.texts.extend(cells)
        self.n += len(cells)

    def values(self):
        return self.numbers[:self.n] if self.numbers is not None else self.texts


def _head(file: Path, source: str) -> str:
    """The first 64 KiB decoded, after checking them for NUL bytes and invalid UTF-8."""
    with open(file, "rb") as handle:
        data = handle.read(_HEAD_BYTES)
    if b"\x00" in data:
        line = data.count(b"\n", 0, data.index(b"\x00")) + 1
        raise _error(source, f"is not UTF-8 text (it contains NUL bytes, first on line {line}: a binary "
                     "or UTF-16 file?)", "save the data as UTF-8 CSV text")
    try:
        return codecs.getincrementaldecoder("utf-8-sig")().decode(data, final=len(data) < _HEAD_BYTES)
    except UnicodeDecodeError:
        raise _not_utf8(file, source) from None


def _not_utf8(file: Path, source: str):
    """The error for a file that is not UTF-8, naming the first bad byte's offset and line."""
    data = file.read_bytes()
    try:
        data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        return _error(source, f"is not UTF-8 text (byte 0x{data[exc.start]:02x} at offset {exc.start}, "
                      f"line {line}, is not valid UTF-8)", "save the file as UTF-8 CSV")
    return _error(source, "is not UTF-8 text", "save the file as UTF-8 CSV")


def _delimiter(head: str) -> tuple[str, str | None]:
    """The delimiter, from the first non-blank line, and a note when it is not the comma."""
    first = next((line for line in head.splitlines() if line.strip()), "")
    if "," in first:
        return ",", None
    counts = {d: first.count(d) for d in _OTHER_DELIMITERS}
    best = max(counts, key=counts.get)
    if counts[best] == 0:
        return ",", None
    return best, (f"read as {_OTHER_DELIMITERS[best]}-separated: the header line has no commas and "
                  f"{counts[best]} {_OTHER_DELIMITERS[best]}{'s' if counts[best] > 1 else ''}")


def _line_bound(file: Path) -> int:
    """An upper bound on the number of rows: the number of line breaks, plus one."""
    count = 1
    with open(file, "rb") as handle:
        while block := handle.read(1 << 16):
            count += block.count(b"\n") + block.count(b"\r") - block.count(b"\r\n")
    return count


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _rows(handle, delimiter: str):
    """(physical line the row starts on, fields) for every non-blank row."""
    reader = csv.reader(handle, delimiter=delimiter, strict=True)
    end = 0
    for fields in reader:
        start, end = end + 1, reader.line_num
        if fields and (len(fields) > 1 or fields[0].strip()):  # not a blank line
            yield start, fields


def _open(file: Path):
    return io.TextIOWrapper(open(file, "rb"), encoding="utf-8-sig", newline="")


def read_csv(file: Path, source: str, progress: Progress | None = None):
    """The file's header, columns (float64 arrays or lists of text), row count, a function naming a
    row ("row 3 (line 4)"), where the names came from, and notes."""
    head = _head(file, source)
    delimiter, note = _delimiter(head)
    size = file.stat().st_size
    header: list[str] | None = None
    header_line = 0
    columns: list[_Column] = []
    chunk: list[list[str]] = []
    n_rows = offset = 0
    width = -1  # fields in the header, once it is read
    breaks_rows: list[int] = []  # rows where (line - row) changes, and the new difference
    breaks_offsets: list[int] = []

    def text_so_far(j: int):
        return lambda n: _column_text(file, delimiter, j, n)

    def flush() -> None:
        for j, cells in enumerate(zip(*chunk)):
            columns[j].extend(cells, text_so_far(j))
        chunk.clear()
        if progress is not None:
            progress(os.lseek(handle.buffer.fileno(), 0, os.SEEK_CUR), size)

    handle = _open(file)
    reader = csv.reader(handle, delimiter=delimiter, strict=True)
    end = 0
    try:
        with handle:
            for fields in reader:
                start, end = end + 1, reader.line_num
                if len(fields) == width and (width > 1 or fields[0].strip()):
                    if start - n_rows != offset:
                        offset = start - n_rows
                        breaks_rows.append(n_rows)
                        breaks_offsets.append(offset)
                    chunk.append(fields)
                    n_rows += 1
                    if len(chunk) == _CHUNK_ROWS:
                        flush()
                    continue
                if not fields or (len(fields) == 1 and not fields[0].strip()):
                    continue  # a blank line
                if header is None:
                    header, header_line = [name.strip() for name in fields], start
                    _check_names(source, header, f"header (line {header_line})")
                    _check_header(source, header, header_line)
                    bound, width = _line_bound(file), len(header)
                    columns = [_Column(bound) for _ in header]
                    continue
                raise _error(
                    source,
                    f"has {len(fields)} fields but the header (line {header_line}) has {len(header)}",
                    "give every row one value per header column (look for missing or extra "
                    f"{'commas' if delimiter == ',' else _OTHER_DELIMITERS[delimiter] + 's'}, "
                    "or unquoted ones inside values)",
                    f"row {n_rows + 1} (line {start})",
                )
            if chunk:
                flush()
    except csv.Error as exc:
        line = f"line {reader.line_num}"
        if "NUL" in str(exc):
            raise _error(source, "is not UTF-8 text (it contains NUL bytes: a binary or UTF-16 file?)",
                         "save the data as UTF-8 CSV text", line) from None
        raise _error(source, f"is not valid CSV ({exc})", "fix the quoting on that line", line) from None
    except UnicodeDecodeError:
        raise _not_utf8(file, source) from None
    if header is None:
        raise _error(source, "file is empty (only whitespace)", _EMPTY)
    if not n_rows:
        raise _error(source, "no data rows (only a header)", "add data rows below the header")

    def row_label(i: int) -> str:
        return f"row {i + 1} (line {i + breaks_offsets[bisect_right(breaks_rows, i) - 1]})"

    return (header, [c.values() for c in columns], n_rows, row_label, f"header (line {header_line})",
            (note,) if note else ())


def _check_header(source: str, header: list[str], line: int) -> None:
    """Refuse a header of numbers (a file without a header row) and a one-column header that looks
    separated by something other than the comma."""
    if header and all(_is_number(name) for name in header):
        shown = ", ".join(_quote(name) for name in header[:6]) + (", ..." if len(header) > 6 else "")
        raise _error(source, f"the first row ({shown}) is all numbers: the file seems to have no header row, and its "
                     "first data row would be taken as column names", "add a header row of column names (for "
                     "example x1,x2,y) above the data", f"header (line {line})")
    if len(header) == 1 and any(ch.isspace() for ch in header[0]):
        raise _error(source, f"the header {_quote(header[0])} is a single column: it has no commas (nor semicolons, "
                     "tabs or vertical bars)", "separate the columns with commas (is the file separated by "
                     "spaces?)", f"header (line {line})")


def _column_text(file: Path, delimiter: str, j: int, n: int) -> list[str]:
    """Column ``j``'s first ``n`` data cells as text: read again when a column that looked numeric
    turns out to hold text after its first chunk (rare: labels usually show in the first rows)."""
    out: list[str] = []
    with _open(file) as handle:
        rows = _rows(handle, delimiter)
        next(rows)  # the header
        for _, fields in rows:
            if len(out) == n:
                break
            out.append(fields[j])
    return out
