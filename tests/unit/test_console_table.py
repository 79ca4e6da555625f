"""The console's one table builder: what a column takes from a row."""

from __future__ import annotations

from consumers.console.templates import Column, row_attributes
from consumers.contractors.tables import Delivery


def test_a_column_takes_a_field_of_a_mapping_or_an_object_or_a_macro() -> None:
    assert Column("n", "n").value({"n": 3}) == 3
    assert Column("n", "attempts", num=True).value(Delivery(attempts=2)) == 2
    assert Column("x", lambda row: f"<{row['n']}>").value({"n": 1}) == "<1>"
    assert Column("n", "n", num=True, css=lambda row: "up").classes({}) == "num up"


def test_a_rows_attributes_are_its_fields_with_none_as_empty() -> None:
    assert row_attributes(
        {"key": "calls", "now": 3, "before": None}, {"data-key": "key", "data-now": "now", "data-before": "before"}
    ) == {
        "data-key": "calls",
        "data-now": "3",
        "data-before": "",
    }
