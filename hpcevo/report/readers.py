"""Reading one text file of a run folder (TOML, JSON, CSV) with errors that name the file and the line.

Only text is read: a report must work on a laptop from a copied folder, and must never unpickle anything.
"""

import csv
import io
import json
import tomllib

from ..errors import UserError

__all__ = ["ReportError", "read_toml", "read_json", "read_csv", "to_int", "to_float", "to_text", "to_floats",
           "to_bool"]


class ReportError(UserError):
    """A run folder (or a file in it) that `hpcevo report` cannot read: exit status 2, no traceback."""


def _fix(path):
    return (f"Copy it again from the cluster, or run the report on the original run folder ({path.name} is "
            f"written by hpcevo; edited or truncated copies cannot be read).")


def read_toml(path):
    try:
        text = path.read_text(encoding="utf-8")
        return tomllib.loads(text)
    except UnicodeDecodeError:
        raise ReportError(f"{path} is not a UTF-8 text file. {_fix(path)}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ReportError(f"{path}: not valid TOML: {exc}. {_fix(path)}") from None


def read_json(path):
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise ReportError(f"{path} is not a UTF-8 text file. {_fix(path)}") from None
    except json.JSONDecodeError as exc:
        raise ReportError(f"{path} line {exc.lineno}: not valid JSON ({exc.msg}, column {exc.colno}). "
                          f"{_fix(path)}") from None


def to_int(text):
    """A CSV cell holding an integer."""
    return int(text)


def to_float(text):
    """A CSV cell holding a float (`nan`/`inf` as Python's repr writes them)."""
    return float(text)


def to_text(text):
    return text


def to_bool(text):
    """A CSV cell holding True/False (as Python writes them; true/false and 1/0 are accepted too)."""
    value = {"true": True, "1": True, "false": False, "0": False}.get(text.strip().lower())
    if value is None:
        raise ValueError(text)
    return value


def to_floats(text):
    """`best_fitness` of migrations.csv: objective values joined by ';'."""
    return tuple(float(part) for part in text.split(";"))


_KINDS = {to_int: "an integer", to_float: "a number", to_floats: "numbers joined by ';'",
          to_bool: "True or False"}


def read_csv(path, required, types, default=to_float, notes=None):
    """Rows of a CSV file as dicts of converted values.

    `required` columns must be in the header; `types` maps a column to its converter (others get `default`).
    A short or long row, or a value that does not convert, raises ReportError naming the file and line. A
    last line without its newline is being appended by a run in progress: it is left out, with a note added
    to `notes`.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise ReportError(f"{path} is not a UTF-8 text file. {_fix(path)}") from None
    if text and not text.endswith("\n") and "\n" in text:
        text = text[: text.rindex("\n") + 1]
        if notes is not None:
            notes.append(f"{path.name} ends in a partly written line (a run in progress appends to it); that line "
                         f"was left out.")
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader, None)
        if not header:
            raise ReportError(f"{path} is empty (not even a header line). {_fix(path)}")
        missing = [c for c in required if c not in header]
        if missing:
            raise ReportError(f"{path} line 1: the header lacks the column(s) {', '.join(missing)} "
                              f"(it has {', '.join(header)}). {_fix(path)}")
        converters = [types.get(c, default) for c in header]
        return header, [_row(path, reader.line_num, header, converters, fields) for fields in reader if fields]
    except csv.Error as exc:
        raise ReportError(f"{path}: not a valid CSV file ({exc}). {_fix(path)}") from None


def _row(path, line, header, converters, fields):
    if len(fields) != len(header):
        raise ReportError(f"{path} line {line}: {len(fields)} field(s) where the header has {len(header)}. "
                          f"{_fix(path)}")
    row = {}
    for column, convert, value in zip(header, converters, fields):
        try:
            row[column] = convert(value)
        except ValueError:
            raise ReportError(f"{path} line {line}: column {column} holds {value!r}, not "
                              f"{_KINDS.get(convert, 'a value')}. {_fix(path)}") from None
        if convert is to_int and row[column] < 0:
            raise ReportError(f"{path} line {line}: column {column} holds {value!r}; it cannot be negative. "
                              f"{_fix(path)}")
    return row
