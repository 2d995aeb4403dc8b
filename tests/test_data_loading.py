"""Tests for ``conformance.data``: loading tables, their error messages, splits and shuffles."""

from __future__ import annotations

import io
import json
import math
import sqlite3
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conformance.data import (
    DataError,
    Dataset,
    SplitIndices,
    apply_split,
    document_dataset,
    load_table,
    shuffle_orders,
    split_indices,
    split_sizes,
    synthetic_dataset,
    write_table,
)

pytestmark = pytest.mark.data

FORMATS = [".csv", ".json", ".sqlite", ".sqlite3", ".db", ".npz"]


def assert_one_line_error(excinfo: pytest.ExceptionInfo[DataError], path: Path | str | None, *words: str) -> str:
    """The message is one line, names the file and contains every word (case-insensitive)."""
    message = str(excinfo.value)
    assert len(message.splitlines()) == 1, message
    assert "\n" not in message and "\r" not in message
    if path is not None:
        assert Path(path).name in message, message
    for word in words:
        assert word.lower() in message.lower(), f"{word!r} not in {message!r}"
    return message


def write_bytes(path: Path, data: bytes | str) -> Path:
    path.write_bytes(data.encode("utf-8") if isinstance(data, str) else data)
    return path


def write_sqlite(path: Path, statements: list[str], rows: dict[str, list[tuple[Any, ...]]] | None = None) -> Path:
    with sqlite3.connect(path) as connection:
        for statement in statements:
            connection.execute(statement)
        for table, values in (rows or {}).items():
            marks = ", ".join("?" * len(values[0]))
            connection.executemany(f"INSERT INTO {table} VALUES ({marks})", values)
    connection.close()
    return path


def write_npz(path: Path, **arrays: Any) -> Path:
    with open(path, "wb") as handle:
        np.savez(handle, **arrays)
    return path


def npy_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array)
    return buffer.getvalue()


def zip_members(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return path


# ---------------------------------------------------------------------------------------------
# Built-in datasets


def test_document_dataset() -> None:
    ds = document_dataset()
    np.testing.assert_array_equal(ds.X, [[1, 2], [2, 3], [3, 4], [4, 5], [5, 6]])
    np.testing.assert_array_equal(ds.y, [0, 1, 0, 1, 0])
    assert ds.X.dtype == np.float64 and ds.y.dtype == np.float64
    assert ds.feature_names == ("x1", "x2") and ds.target_name == "y"
    assert ds.source == "document" and ds.label_map is None and ds.notes == ()
    assert (ds.n_samples, ds.n_features) == (5, 2)


def test_synthetic_dataset_is_seeded_and_shaped() -> None:
    a, b, c = synthetic_dataset(200, 3, seed=7), synthetic_dataset(200, 3, seed=7), synthetic_dataset(200, 3, seed=8)
    np.testing.assert_array_equal(a.X, b.X)
    np.testing.assert_array_equal(a.y, b.y)
    assert not np.array_equal(a.X, c.X)
    assert a.X.shape == (200, 3) and a.y.shape == (200,)
    assert a.X.dtype == np.float64 and np.isfinite(a.X).all()
    assert set(np.unique(a.y)) == {0.0, 1.0} and a.y.sum() == 100
    assert a.feature_names == ("x1", "x2", "x3") and a.target_name == "y"
    assert a.source == "synthetic(n=200, n_features=3, seed=7)"
    std = a.X.std(axis=0)
    assert std.max() / std.min() > 100  # standardization matters
    assert np.abs(a.X.mean(axis=0)).max() > 1


def test_synthetic_dataset_is_learnable_but_not_separable() -> None:
    linear_model = pytest.importorskip("sklearn.linear_model")
    ds = synthetic_dataset(4000, 2, seed=0)
    X = (ds.X - ds.X.mean(axis=0)) / ds.X.std(axis=0)
    accuracy = linear_model.LogisticRegression().fit(X, ds.y).score(X, ds.y)
    assert 0.75 < accuracy < 0.95  # the Bayes accuracy is about 0.84


def test_synthetic_dataset_single_sample_and_feature() -> None:
    ds = synthetic_dataset(1, 1)
    assert ds.X.shape == (1, 1) and ds.y.shape == (1,)


@pytest.mark.parametrize("kwargs", [{"n_samples": 0}, {"n_samples": 5, "n_features": 0}, {"n_samples": -3},
                                    {"n_samples": 2.5}])
def test_synthetic_dataset_rejects_bad_sizes(kwargs: dict[str, Any]) -> None:
    with pytest.raises(DataError) as excinfo:
        synthetic_dataset(**kwargs)
    assert_one_line_error(excinfo, None, "synthetic(", "must be")


def test_dataset_validates_its_fields() -> None:
    with pytest.raises(DataError):
        Dataset(X=np.ones((2, 2)), y=np.array([0.0, 2.0]), feature_names=("a", "b"), target_name="y", source="t")
    with pytest.raises(DataError):
        Dataset(X=np.ones((2, 2)), y=np.zeros(3), feature_names=("a", "b"), target_name="y", source="t")
    with pytest.raises(DataError):
        Dataset(X=np.ones((2, 2)), y=np.zeros(2), feature_names=("a", "y"), target_name="y", source="t")
    with pytest.raises(DataError):
        Dataset(X=np.array([[np.nan]]), y=np.zeros(1), feature_names=("a",), target_name="y", source="t")


# ---------------------------------------------------------------------------------------------
# Round trips


@pytest.mark.parametrize("ext", FORMATS)
@pytest.mark.parametrize("make", [document_dataset, lambda: synthetic_dataset(37, 3, seed=5)], ids=["document",
                                                                                                  "synthetic"])
def test_round_trip(tmp_path: Path, ext: str, make: Callable[[], Dataset]) -> None:
    original = make()
    path = tmp_path / f"table{ext}"
    write_table(original, path)
    loaded = load_table(path)
    np.testing.assert_array_equal(loaded.X, original.X)
    np.testing.assert_array_equal(loaded.y, original.y)
    assert loaded.X.dtype == np.float64 and loaded.y.dtype == np.float64
    assert loaded.feature_names == original.feature_names
    assert loaded.target_name == original.target_name
    assert loaded.label_map is None and loaded.notes == ()
    assert loaded.source == str(path)


def test_write_table_replaces_an_existing_file(tmp_path: Path) -> None:
    path = tmp_path / "t.sqlite"
    write_table(synthetic_dataset(10), path)
    write_table(document_dataset(), path)
    assert load_table(path).n_samples == 5


def test_round_trip_with_awkward_names(tmp_path: Path) -> None:
    ds = Dataset(X=np.array([[0.1, 1e-300], [2.5, -3.0]]), y=np.array([1.0, 0.0]),
                 feature_names=('a, "b"', "file"), target_name="class label", source="t")
    for ext in FORMATS:
        path = tmp_path / f"awkward{ext}"
        write_table(ds, path)
        loaded = load_table(path, target="class label")
        np.testing.assert_array_equal(loaded.X, ds.X)
        np.testing.assert_array_equal(loaded.y, ds.y)
        assert loaded.feature_names == ds.feature_names


def test_extension_is_case_insensitive(tmp_path: Path) -> None:
    path = write_bytes(tmp_path / "UPPER.CSV", "x1,y\n1,0\n2,1\n")
    assert load_table(path).n_samples == 2


# ---------------------------------------------------------------------------------------------
# Column selection


def test_default_target_order(tmp_path: Path) -> None:
    path = write_bytes(tmp_path / "t.csv", "y,a,target,label\n0,1,1,1\n1,2,0,0\n")
    assert load_table(path).target_name == "y"
    path = write_bytes(tmp_path / "u.csv", "a,label,target\n1,1,0\n2,0,1\n")
    ds = load_table(path)
    assert ds.target_name == "target" and ds.feature_names == ("a", "label")
    path = write_bytes(tmp_path / "v.csv", "a,label,b\n1,1,5\n2,0,6\n")
    assert load_table(path).target_name == "label"
    path = write_bytes(tmp_path / "w.csv", "a,b,outcome\n1,3,0\n2,4,1\n")
    ds = load_table(path)
    assert ds.target_name == "outcome" and ds.feature_names == ("a", "b")


def test_explicit_target_and_features(tmp_path: Path) -> None:
    path = write_bytes(tmp_path / "t.csv", "a,b,c,y\n1,2,0,0\n3,4,1,1\n")
    ds = load_table(path, target="c", features=["b", "a"])
    assert ds.feature_names == ("b", "a") and ds.target_name == "c"
    np.testing.assert_array_equal(ds.X, [[2, 1], [4, 3]])
    np.testing.assert_array_equal(ds.y, [0, 1])


def test_features_as_a_string_is_a_type_error(tmp_path: Path) -> None:
    path = write_bytes(tmp_path / "t.csv", "a,y\n1,0\n2,1\n")
    with pytest.raises(TypeError):
        load_table(path, features="a")


def test_csv_details(tmp_path: Path) -> None:
    text = '\ufeffx1, x2 ,y\r\n\r\n" 1.5 ",2,0\r\n3,"4e0",1\r\n\r\n'
    ds = load_table(write_bytes(tmp_path / "t.csv", text))
    assert ds.feature_names == ("x1", "x2")
    np.testing.assert_array_equal(ds.X, [[1.5, 2], [3, 4]])


def test_npz_xy_form(tmp_path: Path) -> None:
    path = write_npz(tmp_path / "xy.npz", X=np.arange(6.0).reshape(3, 2), y=np.array([0, 1, 1]))
    ds = load_table(path)
    assert ds.feature_names == ("x1", "x2") and ds.target_name == "y"
    np.testing.assert_array_equal(ds.X, [[0, 1], [2, 3], [4, 5]])
    np.testing.assert_array_equal(ds.y, [0, 1, 1])
    assert any("X/y" in note for note in ds.notes)


def test_sqlite_table_choice(tmp_path: Path) -> None:
    path = write_sqlite(tmp_path / "two.db", ["CREATE TABLE a (x REAL, y INTEGER)", "CREATE TABLE b (x REAL, y TEXT)"],
                        {"a": [(1.0, 0), (2.0, 1)], "b": [(5.0, "no"), (6.0, "yes"), (7.0, "no")]})
    ds = load_table(path, table="b")
    np.testing.assert_array_equal(ds.X, [[5], [6], [7]])
    np.testing.assert_array_equal(ds.y, [0, 1, 0])
    assert ds.label_map == {"no": 0, "yes": 1}


# ---------------------------------------------------------------------------------------------
# Labels


@pytest.mark.parametrize(
    ("column", "expected_y", "expected_map", "note"),
    [
        (["-1", "1", "-1"], [0, 1, 0], {-1.0: 0, 1.0: 1}, "mapped -1 -> 0, 1 -> 1"),
        (["2", "1", "1"], [1, 0, 0], {1.0: 0, 2.0: 1}, "mapped 1 -> 0, 2 -> 1"),
        (["yes", "no", " yes "], [1, 0, 1], {"no": 0, "yes": 1}, "mapped 'no' -> 0, 'yes' -> 1"),
        (["dog", "cat", "cat"], [1, 0, 0], {"cat": 0, "dog": 1}, "target 'y': mapped 'cat' -> 0, 'dog' -> 1"),
        (["0.0", "1.0", "1"], [0, 1, 1], None, None),
    ],
)
def test_label_mapping_csv(tmp_path: Path, column: list[str], expected_y: list[int],
                           expected_map: dict[Any, int] | None, note: str | None) -> None:
    rows = "".join(f"{i},{label}\n" for i, label in enumerate(column))
    ds = load_table(write_bytes(tmp_path / "labels.csv", "x1,y\n" + rows))
    np.testing.assert_array_equal(ds.y, expected_y)
    assert ds.label_map == expected_map
    if note is None:
        assert ds.notes == ()
    else:
        assert len(ds.notes) == 1 and note in ds.notes[0]


def test_label_mapping_json_and_npz(tmp_path: Path) -> None:
    records = [{"x1": 1, "y": True}, {"x1": 2, "y": False}]
    ds = load_table(write_bytes(tmp_path / "b.json", json.dumps(records)))
    np.testing.assert_array_equal(ds.y, [1, 0])
    assert ds.label_map == {False: 0, True: 1}
    records = [{"x1": 1, "y": -1}, {"x1": 2, "y": 1}]
    ds = load_table(write_bytes(tmp_path / "n.json", json.dumps(records)))
    assert ds.label_map == {-1: 0, 1: 1} and "-1 -> 0" in ds.notes[0]
    ds = load_table(write_npz(tmp_path / "s.npz", x1=np.array([1.0, 2.0, 3.0]), y=np.array(["b", "a", "b"])))
    np.testing.assert_array_equal(ds.y, [1, 0, 1])
    assert ds.label_map == {"a": 0, "b": 1} and "'a' -> 0" in ds.notes[0]


# ---------------------------------------------------------------------------------------------
# Bad inputs


class Case:
    """A bad input: a file name, a function writing the file (or None), load_table kwargs, words."""

    def __init__(self, name: str, write: Callable[[Path], Any] | None, words: tuple[str, ...],
                 **kwargs: Any) -> None:
        self.name, self.write, self.words, self.kwargs = name, write, words, kwargs


def text(content: str | bytes) -> Callable[[Path], Path]:
    return lambda path: write_bytes(path, content)


CSV = "x1,x2,y\n"
BAD_INPUTS = {
    # files in general
    "missing": Case("nope.csv", None, ("no such file",)),
    "directory": Case("folder.csv", lambda p: p.mkdir(), ("directory",)),
    "unknown-ext": Case("data.txt", text(CSV + "1,2,0\n"), ("unsupported", "'.txt'", ".csv", ".json", ".npz",
                                                            ".sqlite")),
    "no-ext": Case("data", text(CSV), ("no file extension", ".csv")),
    "empty-csv": Case("empty.csv", text(b""), ("empty",)),
    "whitespace-json": Case("blank.json", text(" \n\n "), ("empty",)),
    "empty-sqlite": Case("empty.sqlite", text(b""), ("empty",)),
    "table-on-csv": Case("t.csv", text(CSV + "1,2,0\n"), ("table=", "sqlite"), table="data"),
    # CSV
    "csv-header-only": Case("head.csv", text(CSV), ("no data rows",)),
    "csv-ragged": Case("ragged.csv", text(CSV + "1,2,0\n3,4\n"), ("row 2", "line 3", "2 fields", "has 3")),
    "csv-ragged-after-blank": Case("gap.csv", text(CSV + "1,2,0\n\n3,4,1,9\n"), ("row 2", "line 4", "4 fields")),
    "csv-not-utf8": Case("latin.csv", text(b"x1,y\n\xe9,1\n"), ("not utf-8", "line 2")),
    "csv-binary": Case("binary.csv", text(b"PK\x03\x04\x00\x00garbage"), ("not utf-8", "nul")),
    "csv-bad-quote": Case("quote.csv", text('x1,y\n"1"2,0\n'), ("line 2", "csv")),
    "csv-non-numeric": Case("words.csv", text(CSV + "1,2,0\n3,abc,1\n"),
                            ("row 2", "line 3", "column 'x2'", "'abc'", "not a number")),
    "csv-empty-cell": Case("hole.csv", text(CSV + "1,,0\n3,4,1\n"), ("row 1", "line 2", "'x2'", "missing value")),
    "csv-nan": Case("nan.csv", text(CSV + "1,2,0\n3,NaN,1\n"), ("row 2", "line 3", "'x2'", "nan")),
    "csv-inf": Case("inf.csv", text(CSV + "-inf,2,0\n3,4,1\n"), ("row 1", "'x1'", "infinite")),
    "csv-duplicate-header": Case("dup.csv", text("x1,x1,y\n1,2,0\n"), ("duplicate", "'x1'", "line 1")),
    "csv-empty-name": Case("noname.csv", text("x1,,y\n1,2,0\n"), ("column 2", "empty name")),
    "csv-missing-target-cell": Case("nolabel.csv", text(CSV + "1,2,0\n3,4,\n"),
                                    ("row 2", "line 3", "'y'", "missing value")),
    # columns
    "missing-target": Case("t.csv", text(CSV + "1,2,0\n"), ("'label2'", "not found", "'x1'", "'x2'", "'y'"),
                           target="label2"),
    "missing-feature": Case("t.csv", text(CSV + "1,2,0\n"), ("'zz'", "not found", "'x1'", "'x2'"),
                            features=["x1", "zz"]),
    "target-in-features": Case("t.csv", text(CSV + "1,2,0\n"), ("'y'", "also listed", "features"),
                               target="y", features=["x1", "y"]),
    "feature-twice": Case("t.csv", text(CSV + "1,2,0\n"), ("'x1'", "twice"), features=["x1", "x1"]),
    "features-empty": Case("t.csv", text(CSV + "1,2,0\n"), ("features is empty",), features=[]),
    "only-target": Case("t.csv", text("y\n0\n1\n"), ("no feature columns",)),
    # labels
    "one-class": Case("one.csv", text(CSV + "1,2,1\n3,4,1\n"), ("only one class", "(1)", "need two", "'y'")),
    "three-classes": Case("three.csv", text(CSV + "1,2,a\n3,4,b\n5,6,c\n"),
                          ("3 distinct values", "'a', 'b', 'c'", "exactly two")),
    "many-classes": Case("many.csv", text(CSV + "".join(f"1,2,{k}\n" for k in range(9))),
                         ("9 distinct values", "0, 1, 2, 3, 4, ...")),
    "label-nan": Case("labelnan.csv", text(CSV + "1,2,0\n3,4,nan\n"), ("row 2", "'y'", "nan")),
    # JSON
    "json-syntax": Case("broken.json", text('[{"x1": 1, "y": 0},\n {"x1": 2 "y": 1}]'),
                        ("invalid json", "line 2", "column 11")),
    "json-not-list": Case("dict.json", text('{"x1": [1, 2], "y": [0, 1]}'), ("list of records", "an object")),
    "json-not-objects": Case("lists.json", text("[[1, 0], [2, 1]]"), ("row 1", "not an object")),
    "json-different-keys": Case("keys.json", text('[{"x1": 1, "x2": 2, "y": 0}, {"x1": 1, "x3": 2, "y": 1}]'),
                                ("row 2", "different keys", "missing 'x2'", "unexpected 'x3'")),
    "json-empty-list": Case("none.json", text("[]"), ("no data rows",)),
    "json-null": Case("null.json", text('[{"x1": 1, "y": 0}, {"x1": null, "y": 1}]'),
                      ("row 2", "'x1'", "missing value")),
    "json-nan": Case("nan.json", text('[{"x1": NaN, "y": 0}, {"x1": 1, "y": 1}]'), ("row 1", "'x1'", "nan")),
    "json-string": Case("str.json", text('[{"x1": "1", "y": 0}, {"x1": "one", "y": 1}]'),
                        ("row 2", "'x1'", "'one'", "not a number")),
    "json-bool-feature": Case("bool.json", text('[{"x1": true, "y": 0}, {"x1": 1, "y": 1}]'),
                              ("row 1", "'x1'", "boolean")),
    "json-nested": Case("nest.json", text('[{"x1": [1, 2], "y": 0}]'), ("row 1", "'x1'", "not a number")),
    "json-duplicate-key": Case("dupkey.json", text('[{"x1": 1, "x1": 2, "y": 0}]'), ("row 1", "'x1'", "twice")),
    "json-not-utf8": Case("bytes.json", text(b'[{"x1": "\xff", "y": 0}]'), ("not utf-8",)),
    # SQLite
    "sqlite-not-db": Case("text.sqlite", text("x1,y\n1,0\n" * 100), ("not a sqlite database",)),
    "sqlite-no-tables": Case("bare.db", lambda p: write_sqlite(p, ["PRAGMA user_version = 7"]), ("no tables",)),
    "sqlite-two-tables": Case("two.db", lambda p: write_sqlite(
        p, ["CREATE TABLE a (x REAL, y INT)", "CREATE TABLE b (x REAL, y INT)"]), ("2 tables", "'a'", "'b'", "table=")),
    "sqlite-unknown-table": Case("one.sqlite3", lambda p: write_sqlite(p, ["CREATE TABLE data (x REAL, y INT)"]),
                                 ("'zz'", "'data'", "no table"), table="zz"),
    "sqlite-empty-table": Case("e.sqlite", lambda p: write_sqlite(p, ["CREATE TABLE data (x REAL, y INT)"]),
                               ("no data rows", "'data'")),
    "sqlite-null": Case("null.sqlite", lambda p: write_sqlite(
        p, ["CREATE TABLE data (x1 REAL, y INT)"], {"data": [(1.0, 0), (None, 1)]}),
                        ("row 2", "'x1'", "missing value")),
    "sqlite-text": Case("text.db", lambda p: write_sqlite(
        p, ["CREATE TABLE data (x1, y INT)"], {"data": [("abc", 0), (2.0, 1)]}),
                        ("row 1", "'x1'", "'abc'", "not a number")),
    # npz
    "npz-unequal": Case("len.npz", lambda p: write_npz(p, a=np.ones(5), b=np.ones(4), y=np.arange(5) % 2),
                        ("'b'", "length 4", "length 5")),
    "npz-2d": Case("twod.npz", lambda p: write_npz(p, A=np.ones((3, 2)), y=np.array([0, 1, 0])),
                   ("'A'", "2-D", "1-D")),
    "npz-scalar": Case("scalar.npz", lambda p: write_npz(p, a=np.float64(1.0), y=np.array([0, 1])), ("0-D",)),
    "npz-complex": Case("complex.npz", lambda p: write_npz(p, a=np.ones(2, complex), y=np.array([0, 1])),
                        ("'a'", "dtype complex128", "not a real number")),
    "npz-bool-feature": Case("bool.npz", lambda p: write_npz(p, a=np.array([True, False]), y=np.array([0, 1])),
                             ("'a'", "boolean")),
    "npz-nan": Case("nan.npz", lambda p: write_npz(p, a=np.array([1.0, 2.0, np.nan]), y=np.array([0, 1, 0])),
                    ("row 3", "index 2", "'a'", "nan")),
    "npz-inf-xy": Case("inf.npz", lambda p: write_npz(p, X=np.array([[1.0, 2.0], [np.inf, 0.0]]), y=np.array([0, 1])),
                       ("row 2", "index 1", "'x1'", "infinite")),
    "npz-object": Case("obj.npz", lambda p: np.savez(p, a=np.array([1, "x"], dtype=object), y=np.array([0, 1])),
                       ("'a'", "object")),
    "npz-not-zip": Case("junk.npz", text(b"\x01\x02 this is not a zip archive"), ("not a readable .npz",)),
    "npz-single-npy": Case("single.npz", lambda p: np.save(open(p, "wb"), np.ones(3)), ("single .npy",)),
    "npz-corrupt": Case("corrupt.npz", lambda p: write_bytes(p, b"PK\x03\x04" + bytes(range(200))),
                        ("not a readable .npz",)),
    "npz-member-not-npy": Case("member.npz", lambda p: zip_members(p, {"a.npy": b"not an array"}),
                               ("'a'", "not a .npy array")),
    "npz-member-truncated": Case("cut.npz", lambda p: zip_members(p, {"a.npy": npy_bytes(np.ones(50))[:90]}),
                                 ("not a readable .npz",)),
    "npz-empty": Case("noarrays.npz", lambda p: zipfile.ZipFile(p, "w").close(), ("no arrays",)),
    "npz-xy-extra": Case("extra.npz", lambda p: write_npz(p, X=np.ones((2, 2)), y=np.array([0, 1]), z=np.ones(2)),
                         ("'X'", "'z'", "X/y")),
    "npz-xy-no-y": Case("noy.npz", lambda p: write_npz(p, X=np.ones((2, 2))), ("'X'", "no 'y'")),
    "npz-zero-rows": Case("zero.npz", lambda p: write_npz(p, a=np.ones(0), y=np.ones(0)), ("no data rows",)),
    "npz-string-feature": Case("strfeat.npz", lambda p: write_npz(p, a=np.array(["1", "b"]), y=np.array([0, 1])),
                               ("row 2", "'a'", "'b'", "not a number")),
}


@pytest.mark.parametrize("case", list(BAD_INPUTS.values()), ids=list(BAD_INPUTS))
def test_bad_input_raises_one_line_data_error(tmp_path: Path, case: Case) -> None:
    path = tmp_path / case.name
    if case.write is not None:
        case.write(path)
    with pytest.raises(DataError) as excinfo:
        load_table(path, **case.kwargs)
    message = assert_one_line_error(excinfo, path, *case.words)
    assert str(path) in message


def test_long_or_multiline_values_are_quoted_short_on_one_line(tmp_path: Path) -> None:
    path = write_bytes(tmp_path / "long.csv", CSV + "1,2,0\n3,\"" + "z" * 500 + "\nsecond line\",1\n")
    with pytest.raises(DataError) as excinfo:
        load_table(path)
    message = assert_one_line_error(excinfo, path, "row 2", "line 3", "'x2'", "...")
    assert len(message) < 400


def test_first_bad_cell_is_reported_by_row(tmp_path: Path) -> None:
    path = write_bytes(tmp_path / "two.csv", CSV + "1,2,0\n3,x,1\nq,4,1\n")
    with pytest.raises(DataError) as excinfo:
        load_table(path)
    assert_one_line_error(excinfo, path, "row 2", "'x2'", "'x'")


def test_data_error_is_a_value_error() -> None:
    assert issubclass(DataError, ValueError)
    assert str(DataError("a\nb\r\nc")) == "a b c"


# ---------------------------------------------------------------------------------------------
# Splits


def assert_partition(idx: SplitIndices, n: int) -> None:
    for part in (idx.train, idx.val, idx.test):
        assert part.dtype == np.int64 and part.ndim == 1
    everything = np.concatenate([idx.train, idx.val, idx.test])
    np.testing.assert_array_equal(np.sort(everything), np.arange(n))


def test_document_split_sizes() -> None:
    idx = split_indices(document_dataset().y)
    assert (len(idx.train), len(idx.val), len(idx.test)) == (3, 1, 1)
    assert split_sizes(5) == (3, 1, 1)
    assert_partition(idx, 5)


def test_unstratified_split_is_one_seeded_permutation() -> None:
    y = np.zeros(20)
    idx = split_indices(y, val_fraction=0.25, test_fraction=0.1, seed=3)
    perm = np.random.default_rng(3).permutation(20)
    np.testing.assert_array_equal(idx.test, perm[:2])
    np.testing.assert_array_equal(idx.val, perm[2:7])
    np.testing.assert_array_equal(idx.train, perm[7:])


@pytest.mark.parametrize("stratify", [False, True])
def test_split_is_deterministic_per_seed(stratify: bool) -> None:
    y = synthetic_dataset(60).y
    a, b, c = (split_indices(y, seed=s, stratify=stratify) for s in (4, 4, 5))
    for name in ("train", "val", "test"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
    assert not all(np.array_equal(getattr(a, name), getattr(c, name)) for name in ("train", "val", "test"))
    assert_partition(a, 60)


def test_split_sizes_follow_ceil() -> None:
    assert split_sizes(10, 0.25, 0.15) == (10 - 3 - 2, 3, 2)
    assert split_sizes(100, 0.0, 0.07) == (93, 0, 7)  # 0.07 * 100 is 7.000000000000001 in floats
    assert split_sizes(7, 0.0, 0.0) == (7, 0, 0)
    idx = split_indices(np.zeros(7), val_fraction=0.0, test_fraction=0.3)
    assert len(idx.val) == 0 and idx.val.dtype == np.int64 and len(idx.test) == 3


@pytest.mark.parametrize(("n_major", "n_minor"), [(70, 30), (95, 5), (97, 3), (50, 50), (12, 9)])
def test_stratified_split_keeps_class_proportions(n_major: int, n_minor: int) -> None:
    y = np.array([0.0] * n_major + [1.0] * n_minor)
    y = y[np.random.default_rng(0).permutation(y.size)]
    n = y.size
    idx = split_indices(y, val_fraction=0.2, test_fraction=0.2, seed=1, stratify=True)
    assert_partition(idx, n)
    assert (len(idx.train), len(idx.val), len(idx.test)) == split_sizes(n, 0.2, 0.2)
    for part in (idx.train, idx.val, idx.test):
        counts = {label: int(np.sum(y[part] == label)) for label in (0.0, 1.0)}
        assert min(counts.values()) >= 1  # both classes in every split
        for label, class_size in ((0.0, n_major), (1.0, n_minor)):
            share = class_size * len(part) / n
            if share >= 1:
                assert abs(counts[label] - share) < 1, (counts, share)


def test_stratified_split_interleaves_classes() -> None:
    y = np.array([0.0] * 50 + [1.0] * 50)
    idx = split_indices(y, stratify=True)
    assert not np.all(np.diff(y[idx.train]) >= 0)


@pytest.mark.parametrize(
    ("y", "kwargs", "words"),
    [
        (np.zeros(2), {}, ("2 samples", "too few", "at least 3", "fractions")),
        (np.zeros(0), {}, ("0 samples",)),
        (np.zeros(10), {"val_fraction": 0.5, "test_fraction": 0.5}, ("sum less than 1",)),
        (np.zeros(10), {"val_fraction": -0.1}, ("val_fraction", "[0, 1)")),
        (np.zeros(10), {"test_fraction": 1.0}, ("test_fraction", "[0, 1)")),
        (np.zeros(10), {"test_fraction": math.nan}, ("test_fraction",)),
        (np.array([0, 0, 0, 0, 1, 1.0]), {"stratify": True}, ("class 1 ", "only 2", "3 splits", "stratify=False")),
        (document_dataset().y, {"stratify": True}, ("class 1 ", "only 2")),
        (np.array(["a", "b"] * 5), {"test_fraction": 0.1, "stratify": True},
         ("test split", "only 1", "all 2 classes", "stratify=False")),
        (np.zeros((3, 2)), {}, ("1-D",)),
    ],
)
def test_split_errors(y: np.ndarray, kwargs: dict[str, Any], words: tuple[str, ...]) -> None:
    with pytest.raises(DataError) as excinfo:
        split_indices(y, **kwargs)
    assert_one_line_error(excinfo, None, "split_indices", *words)


def expected_sizes(n: int, val: float, test: float) -> tuple[int, int, int]:
    """The split sizes computed independently: ceil, at least one for a positive fraction."""
    def count(fraction: float) -> int:
        if fraction == 0:
            return 0
        product = fraction * n
        return max(1, round(product) if abs(product - round(product)) <= 1e-9 * max(1.0, product)
                   else math.ceil(product))
    n_test, n_val = count(test), count(val)
    return n - n_test - n_val, n_val, n_test


@pytest.mark.properties
@settings(max_examples=50, deadline=None)
@given(
    n=st.integers(3, 200),
    val=st.one_of(st.just(0.0), st.floats(0.01, 0.45)),
    test=st.one_of(st.just(0.0), st.floats(0.01, 0.45)),
    seed=st.integers(0, 2**32 - 1),
    stratify=st.booleans(),
    minority=st.floats(0.05, 0.5),
)
def test_split_is_a_partition_property(n: int, val: float, test: float, seed: int, stratify: bool,
                                       minority: float) -> None:
    y = (np.random.default_rng(seed).random(n) < minority).astype(np.float64)
    sizes = expected_sizes(n, val, test)
    n_splits = sum(size > 0 for size in sizes)
    n_classes = len(np.unique(y))
    feasible = sizes[0] >= 1 and (not stratify or (
        min(np.bincount(y.astype(int))[np.bincount(y.astype(int)) > 0]) >= n_splits
        and all(size >= n_classes for size in sizes if size > 0)))
    if not feasible:
        with pytest.raises(DataError):
            split_indices(y, val_fraction=val, test_fraction=test, seed=seed, stratify=stratify)
        return
    idx = split_indices(y, val_fraction=val, test_fraction=test, seed=seed, stratify=stratify)
    assert_partition(idx, n)
    assert (len(idx.train), len(idx.val), len(idx.test)) == sizes
    if stratify:
        for part in (idx.train, idx.val, idx.test):
            assert part.size == 0 or len(np.unique(y[part])) == n_classes


def test_apply_split() -> None:
    ds = synthetic_dataset(30, 2, seed=2)
    idx = split_indices(ds.y, seed=9)
    parts = apply_split(ds, idx)
    assert set(parts) == {"train", "val", "test"}
    for name in ("train", "val", "test"):
        X, y = parts[name]
        rows = getattr(idx, name)
        assert X.dtype == np.float64 and y.dtype == np.float64
        np.testing.assert_array_equal(X, ds.X[rows])
        np.testing.assert_array_equal(y, ds.y[rows])
    before = ds.X.copy()
    parts["train"][0][:] = 0.0
    np.testing.assert_array_equal(ds.X, before)  # copies, not views


def test_apply_split_rejects_indices_of_another_dataset() -> None:
    idx = split_indices(np.zeros(10))
    with pytest.raises(DataError) as excinfo:
        apply_split(document_dataset(), idx)
    assert_one_line_error(excinfo, None, "document", "partition", "split_indices")


def test_shuffle_orders() -> None:
    orders = shuffle_orders(8, 3, seed=11)
    rng = np.random.default_rng(11)
    assert len(orders) == 3
    for order in orders:
        np.testing.assert_array_equal(order, rng.permutation(8))
        np.testing.assert_array_equal(np.sort(order), np.arange(8))
        assert order.dtype == np.int64
    assert not np.array_equal(orders[0], orders[1])
    assert shuffle_orders(8, 0, seed=1) == []
    for a, b in zip(orders, shuffle_orders(8, 3, seed=11)):
        np.testing.assert_array_equal(a, b)


# ---------------------------------------------------------------------------------------------
# Delimiters, headers, labels and ranges a user gets wrong; large files


@pytest.mark.parametrize("sep, name", [(";", "semicolon"), ("\t", "tab"), ("|", "vertical bar")])
def test_other_delimiters_are_detected_and_said(tmp_path: Path, sep: str, name: str) -> None:
    path = write_bytes(tmp_path / "t.csv", sep.join(["x1", "x2", "y"]) + "\n" + f"1{sep}2{sep}0\n3{sep}4{sep}1\n")
    ds = load_table(path)
    np.testing.assert_array_equal(ds.X, [[1, 2], [3, 4]])
    assert ds.feature_names == ("x1", "x2") and any(f"{name}-separated" in note for note in ds.notes)


WRONG = {
    "numeric-header": ("1,2,0\n3,4,1\n", ("header (line 1)", "all numbers", "no header row")),
    "space-separated": ("x1 x2 y\n1 2 0\n", ("single column", "comma")),
    "decimal-comma": ("x1;y\n1,5;0\n2,5;1\n", ("'1,5'", "decimal comma", "1.5")),
    "fractional-labels": ("x1,y\n1,0.3\n2,0.7\n", ("row 1", "'y'", "0.3", "not a whole number")),
    "beyond-float32": ("x1,y\n1,0\n-4e38,1\n", ("row 2", "'x1'", "float32")),
    "sums-overflow": ("x1,y\n" + "".join(f"{k}e37,{k % 2}\n" for k in range(1, 9)), ("'x1'", "overflows float32")),
    "spread-underflows": ("x1,y\n1e-25,0\n2e-25,1\n", ("'x1'", "underflows")),
}


@pytest.mark.parametrize("case", list(WRONG))
def test_wrong_tables_are_refused_with_the_reason(tmp_path: Path, case: str) -> None:
    content, words = WRONG[case]
    path = write_bytes(tmp_path / "t.csv", content)
    with pytest.raises(DataError) as excinfo:
        load_table(path)
    assert_one_line_error(excinfo, path, *words)


def test_float32_check_can_be_left_out(tmp_path: Path) -> None:
    path = write_bytes(tmp_path / "t.csv", "x1,y\n1e300,0\n2e300,1\n")
    assert load_table(path, dtype=None).X[1, 0] == 2e300


def test_a_column_that_turns_out_text_after_the_first_chunk(tmp_path: Path, monkeypatch) -> None:
    """Labels that look numeric for a whole chunk, then are words: read again as text, exactly."""
    import conformance.data.csv_reader as csv_reader

    monkeypatch.setattr(csv_reader, "_CHUNK_ROWS", 4)
    rows = "".join(f"{i},1.0\n" for i in range(6)) + "\n6,yes\n7,1.0\n"
    ds = load_table(write_bytes(tmp_path / "t.csv", "x1,y\n" + rows))
    assert ds.label_map == {"1.0": 0, "yes": 1}  # the text as written, not 1.0 -> "1"
    np.testing.assert_array_equal(ds.y, [0, 0, 0, 0, 0, 0, 1, 0])
    with pytest.raises(DataError) as excinfo:
        load_table(write_bytes(tmp_path / "u.csv", "x1,y\n" + rows.replace("6,yes", "six,1")))
    assert_one_line_error(excinfo, None, "row 7 (line 9)", "'x1'", "'six'")


def test_loading_holds_about_three_times_the_float32_table(tmp_path: Path, monkeypatch) -> None:
    """Peak memory while loading a CSV (tracemalloc sees numpy's buffers and Python's objects) grows
    by about 3.3 bytes per byte of the float32 table: the float64 result is 2 of them; the rows
    are never all held as strings (they were: 2.86 GB for a 195 MB, 4.8 M-row file, now 0.23 GB).
    Measured as the growth from n to 2n rows, so that fixed costs (buffers, the chunk) cancel."""
    import tracemalloc

    import conformance.data.csv_reader as csv_reader

    monkeypatch.setattr(csv_reader, "_CHUNK_ROWS", 100)
    rng = np.random.default_rng(0)
    load_table(write_bytes(tmp_path / "warm.csv", "x1,x2,y\n1,2,0\n3,4,1\n"))  # imports and caches, untraced
    peaks = {}
    for n in (10_000, 20_000):
        a, b, c = rng.normal(size=n).tolist(), (rng.normal(size=n) * 100).tolist(), (rng.random(n) < .5).tolist()
        path = write_bytes(tmp_path / f"t{n}.csv", "x1,x2,y\n" + "".join(f"{u!r},{v!r},{int(w)}\n" for u, v, w in zip(a, b, c)))
        tracemalloc.start()
        try:
            ds = load_table(path)
            peaks[n] = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        assert ds.n_samples == n
    per_float32_byte = (peaks[20_000] - peaks[10_000]) / (10_000 * 3 * 4)
    assert 2.0 <= per_float32_byte < 3.5, (peaks, per_float32_byte)  # 3.33 with numpy 2
