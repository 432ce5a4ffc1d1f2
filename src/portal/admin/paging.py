"""The order of an admin table's page: a named sort column, its direction, and a unique column that breaks ties
(so pages never overlap or skip a row)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from portal.errors import ValidationFailed


def order_by(sorts: Mapping[str, Any], sort: str, descending: bool, tie: Any) -> list[Any]:
    """The ORDER BY of a page sorted by `sort` (one of `sorts`); 422 naming the choices for any other."""
    if sort not in sorts:
        raise ValidationFailed(
            "unknown sort", details=[{"field": "sort", "message": f"one of {', '.join(sorted(sorts))}"}]
        )
    column = sorts[sort]
    return [column.desc() if descending else column, tie]
