"""Harbor's intersection list in `q` (labels=(1 2)): read only for keys whitelisted as int_all."""

from __future__ import annotations

import pytest

from services.core.errors import BadRequest
from services.core.listing import Term, ValueType, parse_q

KEYS: dict[str, ValueType] = {"labels": "int_all", "digest": "str", "n": "int"}


def test_an_intersection_list_of_integers_is_one_term() -> None:
    assert parse_q("labels=(3 1  3),digest=x", KEYS) == [Term("labels", "all", (3, 1)), Term("digest", "eq", "x")]
    assert parse_q("labels=( 7 )", KEYS) == [Term("labels", "all", (7,))]


@pytest.mark.parametrize(
    "q",
    [
        "labels=1",  # Harbor's DAO takes only the list form
        "labels={1 2}",  # a union
        "labels=()",
        "labels=(a)",
        "labels=(1 -2)",
        "labels=(1",
        "labels=~1",
        "labels=(" + " ".join(str(i) for i in range(11)) + ")",
        "digest=(a b)",  # other keys still refuse sets
        "n=(1 2)",
    ],
)
def test_anything_else_is_a_400(q: str) -> None:
    with pytest.raises(BadRequest):
        parse_q(q, KEYS)
