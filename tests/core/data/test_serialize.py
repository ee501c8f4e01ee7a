"""The core's default prompt templating."""

from __future__ import annotations

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from clinpred.core.data.dataset import load_from_schema
from clinpred.core.data.schema import default_schema
from clinpred.core.data.serialize import record_text, serialize
from clinpred.core.values import FeatureValue, Prompt, Record, TaskSpec

TASK = TaskSpec(question="Will this patient need manual removal of the placenta?")
RECORD = Record(
    id="P00042",
    features=(
        FeatureValue("country", "Country", "UK", "UK", kind="categorical"),
        FeatureValue("age", "Age", 31.0, "31", unit="years"),
        FeatureValue("hemoglobin", "Hemoglobin", None, None, unit="g/dL"),
        FeatureValue("treatment", "Treatment", "1", "oxytocin", kind="binary"),
    ),
)


def test_list_style() -> None:
    prompt = serialize(RECORD, TASK)
    assert prompt == Prompt(
        system=TASK.system,
        user=(
            "Patient record:\n"
            "Country: UK\n"
            "Age: 31 years\n"
            "Hemoglobin: not recorded\n"
            "Treatment: oxytocin\n"
            "\n"
            "Will this patient need manual removal of the placenta?\n"
            "Answer with Yes or No only."
        ),
    )


def test_sentences_style_and_omitted_missing_values() -> None:
    task = attrs.evolve(TASK, style="sentences", missing="omit", positive="Ja", negative="Nein")
    user = serialize(RECORD, task).user
    assert user.startswith("Patient record:\nThe country is UK. The age is 31 years. The treatment is oxytocin.\n\n")
    assert "Hemoglobin" not in user
    assert user.endswith("Answer with Ja or Nein only.")


def test_missing_text_and_intro_are_configurable() -> None:
    task = attrs.evolve(TASK, missing_text="unknown", intro="Record:", system="")
    prompt = serialize(RECORD, task)
    assert "Hemoglobin: unknown" in prompt.user and prompt.user.startswith("Record:\n")
    assert prompt.system is None


def test_all_features_missing_and_omitted_still_asks_the_question() -> None:
    record = Record("x", (FeatureValue("a", "A", None, None),))
    user = serialize(record, attrs.evolve(TASK, missing="omit")).user
    assert user == f"Patient record:\n\n{TASK.question}\nAnswer with Yes or No only."


@pytest.mark.parametrize("style", ["list", "sentences"])
def test_synthetic_records_keep_schema_order_and_never_show_target_or_id(style: str) -> None:
    dataset = load_from_schema(default_schema(), seed=1, n=120)
    task = attrs.evolve(dataset.schema.task, style=style)
    displays = [f.display if style == "list" else f"The {f.display[0].lower()}{f.display[1:]} is "
                for f in dataset.schema.features]
    for record, label in zip(dataset.records(), dataset.labels):
        user = serialize(record, task).user
        assert record.id not in user
        assert "manual_removal" not in user and "patient_id" not in user
        positions = [user.index(d) for d in displays]
        assert positions == sorted(positions)
        assert user == serialize(record, task).user  # stable


text = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=12)
features = st.lists(
    st.builds(
        lambda name, shown, missing, unit: FeatureValue(name, name.title(), None if missing else shown,
                                                        None if missing else shown, unit=unit),
        text, text, st.booleans(), st.sampled_from(["", "mL", "%"]),
    ),
    max_size=6,
)


@settings(max_examples=150, deadline=None)
@given(features, st.sampled_from(["list", "sentences"]), st.sampled_from(["not-recorded", "omit"]))
def test_serialize_never_crashes(values: list[FeatureValue], style: str, missing: str) -> None:
    task = attrs.evolve(TASK, style=style, missing=missing)
    prompt = serialize(Record("id-123", tuple(values)), task)
    assert prompt.user.endswith("Answer with Yes or No only.")
    assert TASK.question in prompt.user
    shown = record_text(Record("id-123", tuple(values)), task)
    for value in values:
        if not value.missing:
            assert value.text in shown


def test_sentences_are_tabllms_and_keep_acronyms() -> None:
    task = attrs.evolve(TASK, style="sentences")
    record = Record("x", (FeatureValue("bmi", "BMI", 31.2, "31.2", unit="kg/m2"),
                          FeatureValue("a1c", "HbA1c", 6.1, "6.1", unit="%"),
                          FeatureValue("t", "Time since delivery of the baby", 48, "48", unit="minutes"),
                          FeatureValue("h", "Hemoglobin", None, None)))
    assert record_text(record, task) == ("The BMI is 31.2 kg/m2. The HbA1c is 6.1 %. The time since delivery of "
                                         "the baby is 48 minutes. The hemoglobin is not recorded.")


def test_record_text_is_public_for_plugins() -> None:
    import clinpred.api as api

    assert api.record_text is record_text and api.Shot is not None
