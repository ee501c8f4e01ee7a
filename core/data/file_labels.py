"""Value labels an SPSS or Stata file carries that the schema does not use: the prompts would show the
bare codes ("Sex: 2"), so the check says so (``clinpred data init`` copies the labels into a draft)."""

from __future__ import annotations

from clinpred.core.data.schema import DatasetSchema
from clinpred.core.data.tableread import TextTable


def unused_file_labels(table: TextTable, schema: DatasetSchema) -> list[str]:
    """One warning per categorical/binary feature whose file has value labels and whose schema has none."""
    out = []
    for spec in schema.features:
        labels = table.value_labels.get(spec.name)
        if labels and spec.kind != "numeric" and not spec.value_labels:
            shown = ", ".join(f"{k} = {v!r}" for k, v in list(labels.items())[:4]) + (", ..." if len(labels) > 4 else "")
            out.append(f"column {spec.name!r}: the file labels its values ({shown}) but the schema has no "
                       "value_labels, so prompts show the codes; add value_labels (clinpred data init copies them)")
    return out
