"""What changed between two versions' input schemas (and uiSchemas), each change marked breaking or compatible.

Breaking means inputs the old version accepted may be refused by the new one: a field removed where no other
field may be given, a field renamed (it looks like one: removed and added with the same type), a type narrowed,
a field newly required, enum values removed, bounds tightened, a pattern or format changed. Compatible changes
(a new optional field, a default changed, bounds loosened, enum values added, anything in the uiSchema) are
listed too. Objects are compared property by property at any depth, arrays through their `items`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

# Keywords whose growth (a lower bound) or shrinking (an upper bound) refuses inputs that passed before.
_LOWER_BOUNDS = ("minimum", "exclusiveMinimum", "minLength", "minItems", "minProperties")
_UPPER_BOUNDS = ("maximum", "exclusiveMaximum", "maxLength", "maxItems", "maxProperties")
# A type the old one widens to, without refusing anything the old one took.
_WIDER = {("integer", "number")}


@dataclass(frozen=True)
class Change:
    path: str  # where in the inputs: `hosts`, `creds.user`, `hosts[]` (the items of an array), or `(root)`
    kind: str
    breaking: bool
    message: str

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def diff(old: dict[str, Any], new: dict[str, Any], old_ui: Any = None, new_ui: Any = None) -> list[Change]:
    """Every change from `old` to `new`, breaking ones first."""
    changes: list[Change] = []
    _compare(old if isinstance(old, dict) else {}, new if isinstance(new, dict) else {}, "", changes)
    changes.extend(_ui_changes(old_ui if isinstance(old_ui, dict) else {}, new_ui if isinstance(new_ui, dict) else {}))
    return sorted(changes, key=lambda c: (not c.breaking, c.path, c.kind))


def _where(path: str) -> str:
    return path or "(root)"


def _types(schema: dict[str, Any]) -> set[str]:
    declared = schema.get("type")
    if isinstance(declared, str):
        return {declared}
    if isinstance(declared, list):
        return {t for t in declared if isinstance(t, str)}
    return set()


def _compare(old: dict[str, Any], new: dict[str, Any], path: str, changes: list[Change]) -> None:
    _compare_types(old, new, path, changes)
    _compare_enum(old, new, path, changes)
    _compare_bounds(old, new, path, changes)
    for keyword in ("pattern", "format", "const"):
        if old.get(keyword) != new.get(keyword) and new.get(keyword) is not None:
            changes.append(
                Change(
                    _where(path),
                    f"{keyword}_changed",
                    True,
                    f"{keyword} is now {new.get(keyword)!r} (was {old.get(keyword)!r})",
                )
            )
    if ("default" in old or "default" in new) and old.get("default") != new.get("default"):
        changes.append(
            Change(_where(path), "default_changed", False, f"default {old.get('default')!r} -> {new.get('default')!r}")
        )
    _compare_properties(old, new, path, changes)
    old_items, new_items = old.get("items"), new.get("items")
    if isinstance(old_items, dict) and isinstance(new_items, dict):
        _compare(old_items, new_items, f"{path}[]", changes)


def _compare_types(old: dict[str, Any], new: dict[str, Any], path: str, changes: list[Change]) -> None:
    before, after = _types(old), _types(new)
    if not before or not after or before == after:
        return
    lost = {t for t in before - after if not any((t, w) in _WIDER for w in after)}
    changes.append(
        Change(
            _where(path),
            "type_changed",
            bool(lost),
            f"type {'/'.join(sorted(before))} -> {'/'.join(sorted(after))}",
        )
    )


def _compare_enum(old: dict[str, Any], new: dict[str, Any], path: str, changes: list[Change]) -> None:
    before, after = old.get("enum"), new.get("enum")
    if not isinstance(after, list):
        return
    if not isinstance(before, list):
        changes.append(Change(_where(path), "enum_added", True, f"now limited to {after!r}"))
        return
    removed = [v for v in before if v not in after]
    added = [v for v in after if v not in before]
    if removed:
        changes.append(Change(_where(path), "enum_values_removed", True, f"no longer accepts {removed!r}"))
    if added:
        changes.append(Change(_where(path), "enum_values_added", False, f"also accepts {added!r}"))


def _compare_bounds(old: dict[str, Any], new: dict[str, Any], path: str, changes: list[Change]) -> None:
    for keyword in (*_LOWER_BOUNDS, *_UPPER_BOUNDS):
        before, after = old.get(keyword), new.get(keyword)
        if before == after or (after is None and before is None):
            continue
        if after is None:
            changes.append(Change(_where(path), "bound_loosened", False, f"{keyword} {before!r} removed"))
            continue
        lower = keyword in _LOWER_BOUNDS
        tighter = before is None or (after > before if lower else after < before)
        changes.append(
            Change(
                _where(path),
                "bound_tightened" if tighter else "bound_loosened",
                tighter,
                f"{keyword} {before!r} -> {after!r}",
            )
        )


def _compare_properties(old: dict[str, Any], new: dict[str, Any], path: str, changes: list[Change]) -> None:
    before = _dict(old.get("properties"))
    after = _dict(new.get("properties"))
    if not before and not after:
        return
    old_required = set(old.get("required") or [])
    new_required = set(new.get("required") or [])
    closed = new.get("additionalProperties") is False
    removed = [name for name in before if name not in after]
    added = [name for name in after if name not in before]
    renamed = _renames(before, after, removed, added)
    for old_name, new_name in renamed.items():
        changes.append(
            Change(
                _join(path, old_name),
                "renamed",
                True,
                f"looks renamed to {new_name} (removed, and a field of the same type added)",
            )
        )
    for name in removed:
        if name in renamed:
            continue
        changes.append(
            Change(
                _join(path, name),
                "removed",
                closed,
                "removed: inputs that give it are refused" if closed else "removed: an input that gives it is ignored",
            )
        )
    for name in added:
        if name in renamed.values():
            continue
        required = name in new_required and "default" not in (after.get(name) or {})
        changes.append(
            Change(
                _join(path, name),
                "added",
                required,
                "added, required: inputs without it are refused" if required else "added (optional)",
            )
        )
    for name in sorted(new_required - old_required):
        if name in before:
            changes.append(Change(_join(path, name), "newly_required", True, "now required"))
    for name in sorted(old_required - new_required):
        if name in after:
            changes.append(Change(_join(path, name), "no_longer_required", False, "no longer required"))
    if closed and old.get("additionalProperties") is not False:
        changes.append(Change(_where(path), "closed", True, "no other fields are accepted any more"))
    for name in before:
        if name in after and isinstance(before[name], dict) and isinstance(after[name], dict):
            _compare(before[name], after[name], _join(path, name), changes)


def _renames(before: dict[str, Any], after: dict[str, Any], removed: list[str], added: list[str]) -> dict[str, str]:
    """Removed fields that look renamed: exactly one added field of the same type (and title, when given)."""
    found: dict[str, str] = {}
    for old_name in removed:
        spec = _dict(before.get(old_name))
        matches = [
            new_name
            for new_name in added
            if new_name not in found.values()
            and isinstance(after.get(new_name), dict)
            and _types(after[new_name]) == _types(spec)
            and (spec.get("title") is None or after[new_name].get("title") == spec.get("title"))
        ]
        if len(matches) == 1:
            found[old_name] = matches[0]
    return found


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def _ui_changes(old: dict[str, Any], new: dict[str, Any]) -> list[Change]:
    changes = []
    for key in sorted(set(old) | set(new)):
        if old.get(key) != new.get(key):
            changes.append(Change(f"uiSchema.{key}", "ui_changed", False, f"uiSchema {key} changed"))
    return changes
