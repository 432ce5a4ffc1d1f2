"""Layered validation of a sources document: parse, schema, semantics, security, and (when asked) probe.

Each layer runs only when the ones before it passed; every problem names its field (`sources[1].url`) and, for
YAML input, its line. The answer is `{valid, errors, warnings, layers: [{layer, valid, errors, note}]}`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Collection
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml
from pydantic import ValidationError
from sqlalchemy import select

from portal.catalog import local_roots
from portal.db import session as db
from portal.errors import PortalError
from portal.secrets.models import Secret
from portal.secrets.schemas import NAME_PATTERN
from portal.settings import get_settings
from portal.sources import probe as probes
from portal.sources.document import GitSource, SourcesDocument, normalized
from portal.sources.redaction import looks_like_token, redact_text, url_has_password
from portal.sources.schemas import LayerName, LayerResult, Problem, ValidationAnswer

ID_RE = re.compile(r"^[a-z0-9][a-z0-9_-]*\Z")
MAX_ID = 64
TAGS_RE = re.compile(r"^(?![-@])[A-Za-z0-9*?._+-]{1,100}@[A-Za-z0-9*?._+-]{1,100}\Z")
GIT_PATH_RE = re.compile(r"^[A-Za-z0-9._/-]{1,200}\Z")
SCP_RE = re.compile(r"^[A-Za-z0-9._-]+@[A-Za-z0-9.-]+:(?!-)[A-Za-z0-9._/~-]+\Z")
SECRET_NAME_RE = re.compile(NAME_PATTERN)
MAX_POLL = 86_400  # the least is PORTAL_SOURCES_POLL_MIN_SECONDS (60 by default)
MAX_URL = 2000
MAX_NODES = 50_000  # YAML aliases may multiply a small text: walking more nodes than this is refused
Path_ = tuple[str | int, ...]
Lines = dict[Path_, int]
_LAYERS: tuple[LayerName, ...] = ("parse", "schema", "semantics", "security", "probe")


class ParseError(Exception):
    """The text is not a document: not UTF-8, not JSON or YAML, duplicate keys, too large."""

    def __init__(self, message: str, line: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.line = line


# --- helpers --------------------------------------------------------------------------------------------------


def field_name(path: Path_) -> str:
    """`("sources", 1, "url")` -> `sources[1].url`."""
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(document)"


def _line(lines: Lines | None, path: Path_) -> int | None:
    if not lines:
        return None
    for end in range(len(path), -1, -1):
        if path[:end] in lines:
            return lines[path[:end]]
    return None


def _problem(lines: Lines | None, path: Path_, message: str) -> Problem:
    return Problem(field=field_name(path), line=_line(lines, path), message=message)


# --- parse ----------------------------------------------------------------------------------------------------

_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _walk(node: yaml.Node, path: Path_, lines: Lines, budget: list[int]) -> None:
    budget[0] -= 1
    if budget[0] < 0:
        raise ParseError(f"the document is too large (more than {MAX_NODES} values once aliases are expanded)")
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for key, value in node.value:
            name = str(key.value) if isinstance(key, yaml.ScalarNode) else "?"
            if name in seen:
                raise ParseError(f"duplicate key {name!r}", key.start_mark.line + 1)
            seen.add(name)
            lines[(*path, name)] = key.start_mark.line + 1
            _walk(value, (*path, name), lines, budget)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            lines[(*path, index)] = item.start_mark.line + 1
            _walk(item, (*path, index), lines, budget)


def parse_yaml(text: str) -> tuple[Any, Lines]:
    """The YAML document and the line of each key and list item (raises ParseError with the line)."""
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            raise ParseError("the document is empty", 1)
        lines: Lines = {(): node.start_mark.line + 1}
        _walk(node, (), lines, [MAX_NODES])
        return loader.construct_document(node), lines
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark else None
        raise ParseError(f"invalid YAML: {getattr(exc, 'problem', None) or exc}", line) from None
    except RecursionError:
        raise ParseError("the document is nested too deeply") from None
    except ValueError as exc:  # a number too long to convert, say
        raise ParseError(f"invalid YAML: {exc}") from None
    finally:
        loader.dispose()


def parse_body(body: bytes, yaml_input: bool) -> tuple[Any, Lines | None]:
    """The document a request body holds: YAML text (with lines), or JSON."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise ParseError("the document is not UTF-8 text") from None
    if "\x00" in text:
        raise ParseError("the document holds a NUL character")
    if yaml_input:
        return parse_yaml(text)
    try:
        return json.loads(text), None
    except json.JSONDecodeError as exc:
        raise ParseError(f"invalid JSON: {exc.msg}", exc.lineno) from None
    except RecursionError:
        raise ParseError("the document is nested too deeply") from None
    except ValueError as exc:  # a number too long to convert, say
        raise ParseError(f"invalid JSON: {exc}") from None


# --- schema ---------------------------------------------------------------------------------------------------


def _schema_message(error: Any) -> str:
    kind = error["type"]
    if kind == "extra_forbidden":
        return f"unknown field {str(error['loc'][-1])!r}"
    if kind == "missing":
        return "required"
    if kind == "union_tag_invalid":
        return "type must be 'git' or 'folder'"
    if kind == "union_tag_not_found":
        return "type is required: 'git' or 'folder'"
    return str(error["msg"])


def _schema_path(loc: tuple[Any, ...], kind: str) -> Path_:
    path: list[str | int] = []
    for index, part in enumerate(loc):
        if index > 0 and isinstance(loc[index - 1], int) and part in ("git", "folder"):
            continue  # the discriminated union's tag, not a field
        path.append(part)
    if kind in ("union_tag_invalid", "union_tag_not_found"):
        path.append("type")
    return tuple(path)


def check_schema(data: Any, lines: Lines | None) -> tuple[SourcesDocument | None, list[Problem]]:
    """The document as the model (or None) and every shape problem: unknown fields, types, required fields."""
    try:
        return SourcesDocument.model_validate(data), []
    except ValidationError as exc:
        problems = []
        for error in exc.errors(include_url=False, include_input=False):
            path = _schema_path(tuple(error["loc"]), error["type"])
            problems.append(_problem(lines, path, _schema_message(error)))
        return None, problems


# --- semantics ------------------------------------------------------------------------------------------------


def _url_problem(url: str) -> str | None:
    settings = get_settings()
    lowered = url.lower()
    if not url or len(url) > MAX_URL or any(c.isspace() or ord(c) < 32 for c in url):
        return f"a URL of 1 to {MAX_URL} characters, without spaces"
    if lowered.startswith("file://"):
        return None if settings.git_allow_file else "file:// repositories need PORTAL_GIT_ALLOW_FILE=true"
    if lowered.startswith(("http://", "git://")):
        return None if settings.git_allow_http else "http:// and git:// are not encrypted: use https:// or ssh://"
    if SCP_RE.match(url):
        return None
    if not lowered.startswith(("https://", "ssh://")):
        return "use an https:// or ssh:// URL (or user@host:path)"
    try:
        host = urlsplit(url).hostname
    except ValueError:
        host = None
    return None if host else "the URL names no host"


def _git_path_problem(path: str) -> str | None:
    if path == ".":
        return None
    if not GIT_PATH_RE.match(path) or path.startswith(("/", "-")) or ".." in path.split("/"):
        return "a relative folder inside the repository ('.' for its root), without '..'"
    return None


def _folder_problem(path: str) -> str | None:
    if not path:
        return "required"
    try:
        local_roots.check_allowed(Path(path), local_roots.allowed_roots())
    except PortalError as exc:
        return exc.message
    return None


def check_semantics(document: SourcesDocument, lines: Lines | None) -> list[Problem]:
    """Ids (pattern, unique), URL schemes, tag patterns, folders under the allowed roots, intervals in range."""
    problems: list[Problem] = []
    seen: dict[str, int] = {}
    for index, source in enumerate(document.sources):

        def at(name: str, i: int = index) -> Path_:
            return ("sources", i, name)

        if not ID_RE.match(source.id) or len(source.id) > MAX_ID:
            problems.append(_problem(lines, at("id"), f"1 to {MAX_ID} of a-z, 0-9, '_', '-', starting a-z or 0-9"))
        elif source.id in seen:
            problems.append(_problem(lines, at("id"), f"duplicate id (also sources[{seen[source.id]}])"))
        seen.setdefault(source.id, index)
        min_poll = get_settings().sources_poll_min_seconds
        if source.poll_seconds != 0 and not min_poll <= source.poll_seconds <= MAX_POLL:
            problems.append(_problem(lines, at("poll_seconds"), f"0 (never) or {min_poll} to {MAX_POLL} seconds"))
        if isinstance(source, GitSource):
            checks = [
                ("url", _url_problem(source.url.strip())),
                ("tags", None if TAGS_RE.match(source.tags) else "a glob of item-id@version, like *@* or backup-*@*"),
                ("path", _git_path_problem(source.path)),
            ]
            if source.credentials is not None and not SECRET_NAME_RE.match(source.credentials.secret):
                message = "the name of an admin secret: A-Z, 0-9 and '_', not starting with a digit (at most 128)"
                problems.append(_problem(lines, (*at("credentials"), "secret"), message))
        else:
            checks = [("path", _folder_problem(source.path))]
        problems.extend(_problem(lines, at(name), message) for name, message in checks if message)
    return problems


# --- security -------------------------------------------------------------------------------------------------

_INLINE = "looks like a credential written inline: store it as an admin secret and name it in credentials.secret"


def check_security(document: SourcesDocument, lines: Lines | None) -> tuple[list[Problem], list[Problem]]:
    """(errors, warnings): inline credentials (a warning, an error under PORTAL_SOURCES_STRICT) and references to
    admin secrets that do not exist (an error)."""
    inline: list[Problem] = []
    missing: list[Problem] = []
    references: dict[str, list[Path_]] = {}
    for index, source in enumerate(document.sources):
        values = source.model_dump(mode="json")
        if isinstance(source, GitSource) and url_has_password(source.url):
            inline.append(_problem(lines, ("sources", index, "url"), "the URL holds a password or token: " + _INLINE))
        for name, value in values.items():
            if name != "url" and isinstance(value, str) and looks_like_token(value):
                inline.append(_problem(lines, ("sources", index, name), _INLINE))
        if isinstance(source, GitSource) and source.credentials is not None:
            path: Path_ = ("sources", index, "credentials", "secret")
            if looks_like_token(source.credentials.secret):
                inline.append(_problem(lines, path, "this is the name of an admin secret, not its value: " + _INLINE))
            else:
                references.setdefault(source.credentials.secret, []).append(path)
    if references:
        with db.read() as s:
            known = set(s.scalars(select(Secret.name).where(Secret.name.in_(list(references)))))
        for name, paths in references.items():
            if name not in known:
                message = f"no admin secret named {name!r} (create it on the Secrets page first)"
                missing.extend(_problem(lines, path, message) for path in paths)
    if get_settings().sources_strict:
        return [*inline, *missing], []
    return missing, inline


# --- the answer -----------------------------------------------------------------------------------------------


def _probe(document: SourcesDocument, lines: Lines | None, only: Collection[str] | None) -> list[Problem]:
    found = probes.probe_all(document, only)
    problems = []
    for index, field, message in found:
        problems.append(_problem(lines, ("sources", index, field), redact_text(message)))
    return problems


def validate(
    data: Any, lines: Lines | None = None, *, probe: bool = False, probe_only: Collection[str] | None = None
) -> tuple[ValidationAnswer, dict[str, Any]]:
    """Run the layers on parsed data (the probe with `probe`, of the sources `probe_only` names, or all); returns
    the answer and the normalized document (empty when invalid)."""
    results: list[LayerResult] = [LayerResult(layer="parse", valid=True)]
    warnings: list[Problem] = []
    document, errors = check_schema(data, lines)
    results.append(LayerResult(layer="schema", valid=not errors, errors=errors))
    if document is not None:
        errors = check_semantics(document, lines)
        results.append(LayerResult(layer="semantics", valid=not errors, errors=errors))
    if document is not None and not errors:
        errors, warnings = check_security(document, lines)
        results.append(LayerResult(layer="security", valid=not errors, errors=errors))
    if document is not None and not errors and probe:
        errors = _probe(document, lines, probe_only)
        results.append(LayerResult(layer="probe", valid=not errors, errors=errors))
    answer = _answer(results, warnings, probe)
    return answer, normalized(document) if document is not None and answer.valid else {}


def validate_body(
    body: bytes, *, yaml_input: bool, probe: bool = False, probe_only: Collection[str] | None = None
) -> tuple[ValidationAnswer, dict[str, Any]]:
    """Parse a request body (JSON, or YAML text) and validate it."""
    try:
        data, lines = parse_body(body, yaml_input)
    except ParseError as exc:
        parse = LayerResult(
            layer="parse", valid=False, errors=[Problem(field="(document)", line=exc.line, message=exc.message)]
        )
        return _answer([parse], [], probe), {}
    return validate(data, lines, probe=probe, probe_only=probe_only)


def _answer(results: list[LayerResult], warnings: list[Problem], probe: bool) -> ValidationAnswer:
    failed = next((r.layer for r in results if not r.valid), None)
    for name in _LAYERS[len(results) :]:
        note = f"not run: the {failed} layer failed" if failed else "not run: only when asked (probe=true)"
        results.append(LayerResult(layer=name, valid=None, note=note))
    errors = [problem for result in results for problem in result.errors]
    return ValidationAnswer(valid=not errors, errors=errors, warnings=warnings, layers=results)
