"""Who may manage a catalog item: admins every item; publishers the items they maintain, and items nobody
maintains yet (the first publisher to import an item becomes its maintainer; an admin may change the list)."""

from __future__ import annotations

import re
from collections.abc import Iterable

from portal.catalog.models import CatalogItem
from portal.errors import Forbidden
from portal.identity.principal import Principal
from portal.identity.roles import Role


def may_manage(actor: Principal, maintainers: Iterable[str] | None) -> bool:
    if actor.has(Role.admin):
        return True
    names = list(maintainers or [])
    return actor.has(Role.publisher) and (not names or actor.username in names)


def check_may_manage(actor: Principal, item: CatalogItem) -> None:
    """Forbidden (403) unless `actor` manages `item`."""
    if not may_manage(actor, item.maintainers):
        raise Forbidden(
            f"{item.id} is maintained by {', '.join(item.maintainers or [])}: ask one of them or an admin",
            details={"item_id": item.id, "maintainers": list(item.maintainers or [])},
        )


def first_maintainers(actor: Principal) -> list[str] | None:
    """The maintainers of an item `actor` creates: the publisher who imported it (admins and the system leave it
    open to every publisher until an admin names maintainers)."""
    return None if actor.has(Role.admin) or actor.id is None else [actor.username]


_LOGIN = re.compile(r"[^A-Za-z0-9._-]")


def webhook_importer(provider: str, pusher: str | None) -> str:
    """The name a webhook import registers versions under: `webhook:<provider>`, and `:<login>` of who pushed
    the tag when the forge says (a forge login is taken to be the same person's portal username, so that they
    cannot review what they pushed)."""
    name = f"webhook:{provider}"
    return f"{name}:{_LOGIN.sub('', pusher)[:40]}" if pusher and _LOGIN.sub("", pusher) else name


def imported(actor: Principal, imported_by: str) -> bool:
    """Whether `actor` brought the version in: imported it, or pushed the tag a webhook imported it from."""
    if imported_by == actor.username:
        return True
    return (
        imported_by.startswith("webhook:")
        and imported_by.count(":") == 2
        and imported_by.rsplit(":", 1)[1] == actor.username
    )
