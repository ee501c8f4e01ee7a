"""SPSS, Stata and SAS files (.sav, .zsav, .dta, .sas7bdat, .xpt) through pyreadstat.

pyreadstat (the optional extra ``clinpred[readstat]``) reads the file from memory into a pandas
frame of the raw codes plus the file's metadata: value labels (SPSS, Stata: ``1 = "female"``) and
variable labels (``"Age at entry (years)"``). The codes stay in the table, exactly as stored: the
labels are metadata that ``clinpred data init`` copies into the schema's ``value_labels`` and
``display``, where the user sees and can edit them. User-defined missing values (SPSS ``99``,
Stata ``.a``) arrive as missing cells.
"""

from __future__ import annotations

import io
from typing import Any

from attrs import define, field

from clinpred.core.errors import DataError

#: file suffix -> (pyreadstat reader, the format's name in messages)
READERS: dict[str, tuple[str, str]] = {
    ".sav": ("read_sav", "SPSS"),
    ".zsav": ("read_sav", "SPSS"),
    ".dta": ("read_dta", "Stata"),
    ".sas7bdat": ("read_sas7bdat", "SAS"),
    ".xpt": ("read_xport", "SAS transport"),
}
EXTRA_HINT = "pip install 'clinpred[readstat]'"


@define(frozen=True)
class StatFile:
    """A statistics package's table: the raw frame, value labels and variable labels per column."""

    frame: Any  # pandas.DataFrame of the stored codes
    value_labels: dict[str, dict[str, str]] = field(factory=dict)  # column -> code text -> label
    column_labels: dict[str, str] = field(factory=dict)  # column -> variable label


def code_text(value: Any) -> str:
    """The text of a stored code: whole numbers without ``.0`` (SPSS and Stata store numbers as doubles)."""
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return str(value).strip()


def read_stat_file(data: bytes, name: str, suffix: str) -> StatFile:
    """Read SPSS/Stata/SAS file bytes; a missing pyreadstat or a corrupt file is one DataError line."""
    reader, what = READERS[suffix]
    try:
        import pyreadstat
    except ImportError:
        raise DataError(f"{name}: reading {what} files needs pyreadstat: {EXTRA_HINT} (or save the file as CSV)") from None
    try:
        frame, meta = getattr(pyreadstat, reader)(io.BytesIO(data))
    except Exception as exc:  # pyreadstat raises ReadstatError / PyreadstatError and others for bad files
        text = str(exc).strip().splitlines()
        raise DataError(f"{name}: cannot read the {what} file ({type(exc).__name__}: "
                        f"{text[0][:200] if text else 'no details'})") from None
    labels = {
        str(col): {code_text(code): str(label) for code, label in (mapping or {}).items()}
        for col, mapping in (getattr(meta, "variable_value_labels", None) or {}).items() if mapping
    }
    columns = {str(col): str(label).strip() for col, label in (getattr(meta, "column_names_to_labels", None) or {}).items()
               if label and str(label).strip()}
    return StatFile(frame, labels, columns)
