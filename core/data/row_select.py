"""Which patient ``clinpred prompt --row`` means: a row number or a patient id.

``--row 12`` (a whole number) is the 0-based row number; ``--row id:P-0012`` is the patient whose
id is ``P-0012``; any other text that is not a whole number (``--row P-0012``) is an id too. Ids that
are whole numbers need the ``id:`` prefix, so a number never silently means two patients.
"""

from __future__ import annotations

from typing import Sequence

from clinpred.core.errors import UserError

ID_PREFIX = "id:"


def select_row(ids: Sequence[str], selector: str, id_column: str) -> int:
    """The row position that ``selector`` names (a row number, ``id:VALUE`` or a non-numeric id)."""
    text = selector.strip()
    if text.startswith(ID_PREFIX):
        wanted = text[len(ID_PREFIX):].strip()
    elif text.isdigit():
        row = int(text)
        if row >= len(ids):
            hint = f"; for the patient with id {text}, use --row id:{text}" if text in ids else ""
            raise UserError(f"--row {row} is out of range: the dataset has {len(ids)} rows (0 to {len(ids) - 1}){hint}")
        return row
    else:
        wanted = text
    if not wanted:
        raise UserError("--row id: needs an id after it, e.g. --row id:P-0012")
    try:
        return list(ids).index(wanted)
    except ValueError:
        raise UserError(f"--row: no patient has id {wanted!r} in id column {id_column!r}; give an id of that "
                        "column or a 0-based row number") from None
