"""``text.first_few``: the one "first N; and K more" of every message that lists names or differences."""

from __future__ import annotations

from analytiq_data.text import first_few, plural


def test_a_semicolon_list_keeps_its_separator_before_and() -> None:
    assert first_few(["a", "b", "c", "d", "e"], 3) == "a; b; c; and 2 more"


def test_a_comma_list_has_no_comma_before_and() -> None:
    assert first_few(["a", "b", "c"], 2, ", ") == "a, b and 1 more"


def test_nothing_is_added_when_all_are_shown() -> None:
    assert first_few(["a", "b", "c"], 3) == "a; b; c"
    assert first_few(["a"], 5, ", ") == "a"
    assert first_few([], 3) == ""


def test_plural_adds_an_s_unless_one_and_separates_thousands() -> None:
    assert [plural(n, "document") for n in (0, 1, 2, 5000)] == [
        "0 documents",
        "1 document",
        "2 documents",
        "5,000 documents",
    ]
