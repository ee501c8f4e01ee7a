"""Reading a data file into a table of text cells, refusing anything that is not a clean table.

Every cell is kept as text (stripped) so that the validation in :mod:`clinpred.core.data.dataset`
decides, per column and by the schema, what is a number or a missing value: nothing is coerced
here. CSV and TSV are read with the standard ``csv`` module (delimiter sniffed from the
header line); Parquet and Excel need pyarrow / openpyxl; SPSS, Stata and SAS files need pyreadstat
(:mod:`clinpred.core.data.readstat`), whose value and variable labels travel with the table.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any, Callable

from attrs import define, field

from clinpred.core.data.readstat import READERS, code_text, read_stat_file
from clinpred.core.errors import DataError

_DELIMITERS = (",", "\t", ";", "|")
_DELIMITER_NAMES = {",": "comma", "\t": "tab", ";": "semicolon", "|": "pipe"}
_EXCEL_SUFFIXES = (".xlsx", ".xlsm", ".xls")
_PARQUET_SUFFIXES = (".parquet", ".pq")


@define
class TextTable:
    """A header and columns of stripped text cells; ``where(i)`` locates data row ``i`` for messages."""

    columns: list[str]
    cells: dict[str, list[str]]
    n_rows: int
    where: Callable[[int], str]
    kind: str  # csv | tsv | text (other delimiter) | parquet | excel | spss | stata | sas
    value_labels: dict[str, dict[str, str]] = field(factory=dict)  # SPSS/Stata: column -> code -> label
    column_labels: dict[str, str] = field(factory=dict)  # SPSS/Stata/SAS variable labels


def read_file_bytes(path: Path) -> bytes:
    """The bytes of ``path``; a missing or unreadable file is one DataError line."""
    from clinpred.core.files import read_regular_bytes

    try:
        return read_regular_bytes(path)
    except ValueError as exc:  # a FIFO or device: it would block or never end
        raise DataError(f"{path}: {exc}") from None
    except FileNotFoundError:
        raise DataError(f"{path}: data file not found; check the path (or use \"synthetic\")") from None
    except IsADirectoryError:
        raise DataError(f"{path}: is a directory, not a data file") from None
    except PermissionError:
        raise DataError(f"{path}: permission denied; cannot read the data file") from None
    except OSError as exc:
        raise DataError(f"{path}: cannot read the data file ({exc.strerror})") from None


def parse_table(data: bytes, name: str, suffix: str = "") -> TextTable:
    """Parse file bytes into a :class:`TextTable` by suffix and content (name is for messages)."""
    suffix = suffix.lower()
    if not data.strip():
        raise DataError(f"{name}: the file is empty; give a CSV/TSV file with a header line and data rows")
    if suffix in _PARQUET_SUFFIXES or data[:4] == b"PAR1":
        return _from_frame(_read_parquet(data, name), name, "parquet")
    if suffix in READERS:
        stat = read_stat_file(data, name, suffix)
        kind = {"read_sav": "spss", "read_dta": "stata"}.get(READERS[suffix][0], "sas")
        table = _from_frame(stat.frame, name, kind, cell=_code_cell)
        table.value_labels, table.column_labels = stat.value_labels, stat.column_labels
        return table
    if suffix == ".xls":
        raise DataError(f"{name}: legacy .xls workbooks are not supported; save it as .xlsx or CSV")
    if suffix in _EXCEL_SUFFIXES:
        return _from_frame(_read_excel(data, name), name, "excel")
    if data[:4] == b"PK\x03\x04":
        raise DataError(
            f"{name}: is a zip archive (an Excel workbook?), not CSV text; "
            "save it as CSV or name it .xlsx"
        )
    if b"\x00" in data[:8192]:
        raise DataError(f"{name}: is a binary file, not CSV/TSV text")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DataError(
            f"{name}: is not UTF-8 text (byte 0x{data[exc.start]:02x} at offset {exc.start}); "
            "save the file as UTF-8 CSV"
        ) from None
    nul = text.find("\x00")
    if nul >= 0:  # beyond the first 8 KiB: it would silently become part of a cell
        line = text.count("\n", 0, nul) + 1
        raise DataError(f"{name}: line {line} contains a NUL byte (offset {nul}), which no text table has; "
                        "remove it or export the file again as CSV")
    return _read_text(text, name, suffix)


def _sniff_delimiter(header: str, suffix: str) -> str:
    if suffix in (".tsv", ".tab"):
        return "\t"
    counts = {d: header.count(d) for d in _DELIMITERS}
    best = max(_DELIMITERS, key=lambda d: counts[d])  # ties keep the earlier (comma first)
    return best if counts[best] else ","


def _read_text(text: str, name: str, suffix: str) -> TextTable:
    first_line = next((line for line in text.splitlines() if line.strip()), "")
    delimiter = _sniff_delimiter(first_line, suffix)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    rows: list[list[str]] = []
    lines: list[int] = []
    header: list[str] | None = None
    header_line = 0
    try:
        for row in reader:
            if not any(cell.strip() for cell in row):
                continue  # blank line
            if header is None:
                header, header_line = [c.strip() for c in row], reader.line_num
                continue
            if len(row) != len(header):
                raise DataError(
                    f"{name}: line {reader.line_num} has {len(row)} fields but the header "
                    f"(line {header_line}) has {len(header)} ({_DELIMITER_NAMES[delimiter]}-separated); "
                    "fix the row or quote cells that contain the delimiter"
                )
            rows.append([c.strip() for c in row])
            lines.append(reader.line_num)
    except csv.Error as exc:
        raise DataError(f"{name}: line {reader.line_num}: malformed {_DELIMITER_NAMES[delimiter]}-separated text ({exc})") from None
    if header is None:
        raise DataError(f"{name}: the file has no header line (only blank lines); give a CSV/TSV file")
    _check_header(header, name)
    kind = {",": "csv", "\t": "tsv"}.get(delimiter, "text")
    cells = {col: [row[j] for row in rows] for j, col in enumerate(header)}
    return TextTable(header, cells, len(rows), lambda i: f"line {lines[i]}", kind)


def _check_header(header: list[str], name: str) -> None:
    seen: set[str] = set()
    for col in header:
        if col in seen:
            raise DataError(f"{name}: column {col!r} appears twice in the header; column names must be unique")
        seen.add(col)


def _read_parquet(data: bytes, name: str) -> Any:
    import pandas as pd

    try:
        import pyarrow  # noqa: F401
    except ImportError:
        raise DataError(
            f"{name}: reading Parquet needs pyarrow: pip install 'clinpred[parquet]' (or save as CSV)"
        ) from None
    try:
        return pd.read_parquet(io.BytesIO(data))
    except Exception as exc:  # pyarrow raises many types for a corrupt file
        raise DataError(f"{name}: cannot read as Parquet ({type(exc).__name__}: {_first_line(exc)})") from None


def _read_excel(data: bytes, name: str) -> Any:
    import pandas as pd

    try:
        import openpyxl  # noqa: F401
    except ImportError:
        raise DataError(
            f"{name}: reading Excel needs openpyxl: pip install 'clinpred[excel]' (or save as CSV)"
        ) from None
    try:
        frame = pd.read_excel(io.BytesIO(data), sheet_name=0, header=None, dtype=object, engine="openpyxl")
    except Exception as exc:  # openpyxl / zipfile raise many types for a corrupt file
        raise DataError(f"{name}: cannot read as an Excel workbook ({type(exc).__name__}: {_first_line(exc)})") from None
    if frame.empty:
        raise DataError(f"{name}: the first sheet is empty")
    header = [_cell_text(v) for v in frame.iloc[0].tolist()]
    body = frame.iloc[1:]
    body.columns = header
    return body


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:200] if text else "no details"


def _cell_text(value: Any) -> str:
    """Text of a typed cell (Parquet/Excel): missing -> '', floats exactly, others str()."""
    if value is None:
        return ""
    try:
        if value != value:  # NaN, NaT
            return ""
    except (TypeError, ValueError):
        pass
    if type(value).__name__ == "NAType":
        return ""
    if isinstance(value, float):
        return repr(value)
    return str(value).strip()


def _code_cell(value: Any) -> str:
    """A statistics package's cell: missing -> '', whole-number doubles without '.0' (codes, ids)."""
    text = _cell_text(value)
    return code_text(value) if text and isinstance(value, float) else text


def _from_frame(frame: Any, name: str, kind: str, cell: Callable[[Any], str] = _cell_text) -> TextTable:
    header = [str(c).strip() for c in frame.columns]
    _check_header(header, name)
    cells = {col: [cell(v) for v in frame.iloc[:, j].tolist()] for j, col in enumerate(header)}
    offset = 2 if kind == "excel" else 1  # Excel: row 1 is the header
    return TextTable(header, cells, len(frame), lambda i: f"row {i + offset}", kind)
