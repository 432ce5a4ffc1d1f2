"""Start a new catalog item from a template shipped with the portal (`portal catalog new`).

A template is a folder `templates/<name>/` next to this module holding a complete item version: `manifest.yaml`,
`schema.json`, `ui.json`, `task.py`, `README.md` and item tests (`tests/*.json`). Scaffolding copies it to
`<root>/<item id>/<version>/` and replaces three tokens in every file: `__ITEM_ID__`, `__ITEM_NAME__` (derived
from the id: `disk-report` -> `Disk report`) and `__ITEM_VERSION__`. A trailing `.tmpl` is dropped from file
names: Python files are shipped as `task.py.tmpl`, so that the portal's own linters, type checker and packaging
do not take them for modules of the portal.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any

from portal.catalog.manifest import ID_RE, parse_version
from portal.errors import BadRequest, Conflict, ValidationFailed

DEFAULT_TEMPLATE = "basic"
DEFAULT_VERSION = "1.0.0"
SUFFIX = ".tmpl"
# The job reads the item's files as a uid of its own (docs/catalog-items.md, section 6), and `portal` runs with
# umask 077: the files are written readable by all, as source files usually are.
FILE_MODE = 0o644
DIR_MODE = 0o755


@dataclass(frozen=True)
class Template:
    """A shipped template: its name, what it is for (one line), and inputs that make a good first run."""

    name: str
    description: str
    example: dict[str, Any] = field(default_factory=dict)


TEMPLATES: tuple[Template, ...] = (
    Template(
        "basic",
        "a form with two fields, progress steps and a validate() that rejects bad input: the place to start",
        {"target": "web-01"},
    ),
    Template(
        "http-check",
        "request HTTP(S) endpoints and check the status they answer with (declares network ports 80 and 443)",
        {"urls": ["https://example.com/"]},
    ),
    Template(
        "shell-script",
        "run a shell script shipped with the item: inputs as environment variables, its output as log lines",
        {"target": "web-01"},
    ),
)


@dataclass(frozen=True)
class Scaffolded:
    """What `create` wrote: the version folder, the template it came from, its files (relative paths), and the
    files already in the folder that are not the template's (left alone by `force`)."""

    path: Path
    template: Template
    files: list[str]
    kept: list[str] = field(default_factory=list)


def display_name(item_id: str) -> str:
    """The item's name derived from its id: `disk-usage-report` -> `Disk usage report`."""
    return item_id.replace("-", " ").strip().capitalize()


def template_named(name: str) -> Template:
    """The shipped template of that name; ValidationFailed naming the templates there are when there is none."""
    for template in TEMPLATES:
        if template.name == name:
            return template
    names = ", ".join(t.name for t in TEMPLATES)
    raise ValidationFailed(f"unknown template {name!r}: choose one of {names}")


def check_item_id(item_id: str) -> None:
    """Raise ValidationFailed unless `item_id` is a valid item id (the manifest's own rule, `manifest.ID_RE`)."""
    if not ID_RE.match(item_id):
        raise ValidationFailed(
            f"{item_id!r} is not a valid item id: 2-63 lowercase letters, digits or '-', "
            "starting with a letter or digit (e.g. disk-report)"
        )


def render(template: Template, item_id: str, version: str) -> dict[str, str]:
    """The files of `template` for this item (relative path -> text), with its tokens replaced."""
    tokens = {"__ITEM_ID__": item_id, "__ITEM_NAME__": display_name(item_id), "__ITEM_VERSION__": version}
    files: dict[str, str] = {}
    for name, source in _walk(resources.files(__package__).joinpath("templates", template.name)):
        text = source.read_text(encoding="utf-8")
        for token, value in tokens.items():
            text = text.replace(token, value)
        files[name] = text
    return files


def _walk(folder: Traversable, prefix: str = "") -> Iterator[tuple[str, Traversable]]:
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if entry.name.startswith(".") or entry.name == "__pycache__":
            continue
        if entry.is_dir():
            yield from _walk(entry, f"{prefix}{entry.name}/")
        else:
            yield prefix + entry.name.removesuffix(SUFFIX), entry


def create(
    item_id: str,
    root: Path,
    *,
    template: str = DEFAULT_TEMPLATE,
    version: str = DEFAULT_VERSION,
    force: bool = False,
) -> Scaffolded:
    """Write a new item version `root/item_id/version/` from a template, ready to run and to import.

    Everything is checked before anything is written: the id (the catalog's rule), the template name, the version
    (semver), and the target folder, which must not exist unless `force` (then the template's files are written
    over it; other files in it are left alone).
    """
    check_item_id(item_id)
    chosen = template_named(template)
    if parse_version(version) is None:
        raise ValidationFailed(f"version {version!r} is not a semantic version (e.g. 1.0.0)")
    target = root / item_id / version
    existing = next(p for p in (target, *target.parents) if p.exists() or p.is_symlink())
    if not existing.is_dir():
        raise Conflict(f"{existing} exists and is not a folder")
    if existing == target and not force:
        raise Conflict(f"{target} already exists (--force writes the template's files over it)")
    files = render(chosen, item_id, version)
    kept = sorted(
        name for p in target.rglob("*") if not p.is_dir() and (name := p.relative_to(target).as_posix()) not in files
    )
    try:
        for name, text in files.items():
            path = target / name
            _make_dirs(path.parent)
            path.unlink(missing_ok=True)  # a link or a read-only file is replaced, not written through
            path.write_text(text, encoding="utf-8")
            path.chmod(FILE_MODE)
    except OSError as exc:
        raise BadRequest(f"cannot write {exc.filename or target}: {exc.strerror or exc}") from None
    return Scaffolded(path=target, template=chosen, files=sorted(files), kept=kept)


def _make_dirs(folder: Path) -> None:
    """Create `folder` and its missing parents, each readable by all (those that exist are left as they are)."""
    missing: list[Path] = []
    while not folder.is_dir():
        missing.append(folder)
        folder = folder.parent
    for path in reversed(missing):
        path.mkdir()
        path.chmod(DIR_MODE)
