"""Regenerate tests/data/bad/: malformed data files, each with one specific problem.

Run from the repository root: ``python tests/data/make_bad_corpus.py``. The files are committed;
tests/test_dataset.py and tests/test_data_cli.py expect each one's own message.
"""

from __future__ import annotations

from pathlib import Path

from clinpred.core.data.synthetic import cohort_csv, generate_cohort

HERE = Path(__file__).parent / "bad"


def main() -> None:
    HERE.mkdir(exist_ok=True)
    frame, _ = generate_cohort(n=40, seed=3)
    good = cohort_csv(frame).decode()
    lines = good.splitlines()
    header = lines[0].split(",")

    def write(name: str, text: str | bytes) -> None:
        (HERE / name).write_bytes(text if isinstance(text, bytes) else text.encode())

    def edit(column: str, line: int, value: str) -> str:
        out = [row.split(",") for row in lines]
        out[line - 1][header.index(column)] = value
        return "\n".join(",".join(r) for r in out) + "\n"

    def drop(column: str) -> str:
        j = header.index(column)
        return "\n".join(",".join(c for k, c in enumerate(r.split(",")) if k != j) for r in lines) + "\n"

    write("empty.csv", b"")
    write("binary.csv", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x10" + bytes(range(256)))
    write("missing_target.csv", drop("manual_removal"))
    write("non_numeric.csv", edit("age", 7, "thirty"))
    write("non_binary_target.csv", edit("manual_removal", 12, "2"))
    write("duplicate_ids.csv", edit("patient_id", 9, lines[3].split(",")[0]))
    all_missing = [row.split(",") for row in lines]
    for row in all_missing[1:]:
        row[header.index("hemoglobin")] = ""
    write("all_missing_feature.csv", "\n".join(",".join(r) for r in all_missing) + "\n")
    few = [row.split(",") for row in lines]
    positives = 0
    for row in few[1:]:
        if row[-1] == "1":
            positives += 1
            if positives > 3:
                row[-1] = "0"
    write("too_few_events.csv", "\n".join(",".join(r) for r in few) + "\n")
    tsv = [row.replace(",", "\t") for row in lines]
    tsv[5] += "\textra"
    write("ragged.tsv", "\n".join(tsv) + "\n")
    write("header_only.csv", lines[0] + "\n")
    write("missing_target_value.csv", edit("manual_removal", 4, ""))
    write("not_utf8.csv", edit("country", 3, "Uganda").encode().replace(b"Uganda", b"Ugand\xe9", 1))
    write("binary_feature_three_values.csv", edit("treatment", 10, "2"))
    write("duplicate_column.csv", "\n".join(r + "," + r.split(",")[3] for r in lines) + "\n")  # age twice
    write("missing_id.csv", edit("patient_id", 6, ""))
    write("nan_text.csv", edit("pulse", 8, "NaN"))


if __name__ == "__main__":
    main()
