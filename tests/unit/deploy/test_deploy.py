"""The deployment files: the Dockerfile against the Makefile, deploy/compose.yaml against the Compose Specification
schema, deploy/kubernetes/ against the Kubernetes schemas, and all of them against the portal's settings.

Offline: the Compose schema is vendored in tests/fixtures/schemas/, the Kubernetes ones come with the
`kubernetes-validate` package (dev extra). Nothing is built or started here (no Docker daemon, no cluster).
"""

from __future__ import annotations

import base64
import fnmatch
import hashlib
import json
import posixpath
import re
import secrets
import shlex
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import jsonschema
import kubernetes_validate
import pytest
import yaml
from cryptography.fernet import Fernet
from packaging.specifiers import SpecifierSet
from pydantic import ValidationError

from portal.settings import Settings
from tests.helpers import ROOT

DEPLOY = ROOT / "deploy"
KUBE = DEPLOY / "kubernetes"
COMPOSE_FILE = DEPLOY / "compose.yaml"
COMPOSE_SCHEMA = ROOT / "tests" / "fixtures" / "schemas" / "compose-spec.json"
# The vendored schema's sha256, as recorded in tests/fixtures/schemas/README.md: a refresh is a deliberate change.
COMPOSE_SCHEMA_SHA256 = "d549057ebc2925f39f62799eab0db7b9e2c18b35b6c00595199116da3ed10e64"
# The oldest Kubernetes minor version the manifests must be valid for; every newer one bundled is checked too.
OLDEST_KUBERNETES = (1, 27)

# What a distributed deployment must set (in compose: portal.env; in Kubernetes: the ConfigMap or the Secret).
REQUIRED_DISTRIBUTED = {
    "PORTAL_EXECUTOR",
    "PORTAL_DATABASE_URL",
    "PORTAL_BROKER_URL",
    "PORTAL_REDIS_URL",
    "PORTAL_BUNDLE_STORE",
    "PORTAL_SECRETS_KEY",
    "PORTAL_DATA_DIR",
}
# Settings whose values are secrets: the files in the repository leave them empty.
SECRET_SETTINGS = {"PORTAL_SECRETS_KEY", "PORTAL_METRICS_TOKEN", "PORTAL_GIT_WEBHOOK_SECRET"}

SERVE = ["portal", "serve", "--host", "0.0.0.0", "--port", "8000"]
WORKER = ["portal", "worker"]
WORKER_CHECK = ["portal", "worker", "--check"]
MIGRATE = ["portal", "migrate"]


# --- helpers -----------------------------------------------------------------------------------------------------


def known_setting_names() -> set[str]:
    return {f"PORTAL_{name.upper()}" for name in Settings.model_fields}


def unknown_settings(names: Iterable[str], where: str) -> list[str]:
    known = known_setting_names()
    return [f"{where}: {name} is not a setting of portal.settings.Settings" for name in names if name not in known]


def settings_from(values: dict[str, str], where: str) -> Settings:
    """The Settings a process started with these variables gets, its empty secrets filled in as an operator would."""
    filled = dict(values)
    for name in SECRET_SETTINGS & set(filled):
        if not filled[name]:
            filled[name] = Fernet.generate_key().decode() if name == "PORTAL_SECRETS_KEY" else secrets.token_urlsafe(32)
    known = known_setting_names()
    fields = {name.removeprefix("PORTAL_").lower(): v for name, v in filled.items() if name in known}
    try:
        return Settings.model_validate(fields)
    except ValidationError as exc:
        problems = [f"{'.'.join(map(str, e['loc'])) or '(all)'}: {e['msg']}" for e in exc.errors()]
        pytest.fail(f"{where}: Settings refuses these values:\n" + "\n".join(problems))


def assert_distributed(settings: Settings, where: str) -> None:
    assert settings.distributed, f"{where}: PORTAL_EXECUTOR is not celery"
    assert settings.resolved_bundle_store == "database", f"{where}: bundles must be shared through the database"
    assert settings.resolved_database_url.startswith("postgresql+psycopg://"), where
    assert settings.resolved_broker_url.startswith(("redis://", "rediss://", "amqp://")), where
    assert settings.redis_url.startswith(("redis://", "rediss://")), where
    assert str(settings.data_dir) == "/var/lib/portal", where
    assert settings.worker_prefetch == 1, f"{where}: a long job must not hold queued ones back"


def read_env_file(path: Path) -> tuple[dict[str, str], set[str]]:
    """The variables of an env file, and the PORTAL_ names of its commented-out examples (`# PORTAL_X=...`)."""
    values: dict[str, str] = {}
    commented: set[str] = set()
    for number, raw in enumerate(path.read_text().splitlines(), 1):
        line = raw.strip()
        if not line:
            continue
        if line.startswith("#"):
            match = re.match(r"#\s*(PORTAL_[A-Z0-9_]+)=", line)
            if match:
                commented.add(match.group(1))
            continue
        name, sep, value = line.partition("=")
        assert sep, f"{path.name}:{number}: not NAME=value: {raw!r}"
        assert re.fullmatch(r"[A-Z][A-Z0-9_]*", name), f"{path.name}:{number}: bad name {name!r}"
        assert name not in values, f"{path.name}:{number}: {name} is set twice"
        values[name] = value
    return values, commented


def looks_like_fernet_key(value: str) -> bool:
    try:
        return len(base64.urlsafe_b64decode(value.encode())) == 32
    except ValueError:
        return False


def ignored_by(patterns: list[str], path: str, *, docker: bool) -> str | None:
    """The pattern of an ignore file that excludes path (a simplified matcher: globs, `**/`, directories).

    .dockerignore patterns are relative to the build context's root; a .gitignore pattern without a slash matches
    at any depth."""
    parts = path.strip("/").split("/")
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    for pattern in patterns:
        glob = pattern.strip("/")
        candidates = list(prefixes)
        if not docker and "/" not in glob:
            candidates += parts
        if glob.startswith("**/"):
            glob = glob[3:]
            candidates += ["/".join(parts[i : j + 1]) for i in range(len(parts)) for j in range(i, len(parts))]
        if any(fnmatch.fnmatchcase(candidate, glob) for candidate in candidates):
            return pattern
    return None


def ignore_patterns(path: Path) -> list[str]:
    lines = [line.strip() for line in path.read_text().splitlines()]
    return [line for line in lines if line and not line.startswith("#") and not line.startswith("!")]


# --- the Dockerfile ------------------------------------------------------------------------------------------------


@dataclass
class Stage:
    image: str
    name: str | None
    workdir: str = "/"
    runs: list[str] = field(default_factory=list)
    copies: list[tuple[list[str], str, str | None]] = field(default_factory=list)  # (sources, destination, --from)
    instructions: list[tuple[str, str]] = field(default_factory=list)


def parse_dockerfile(text: str) -> list[Stage]:
    logical: list[str] = []
    pending = ""
    for raw in text.splitlines():
        if raw.lstrip().startswith("#"):
            continue  # comments, also those inside a continued instruction
        if raw.endswith("\\"):
            pending += raw[:-1] + " "
            continue
        line = (pending + raw).strip()
        pending = ""
        if line:
            logical.append(line)
    assert not pending, "the Dockerfile ends inside a continued line"

    args: dict[str, str] = {}
    stages: list[Stage] = []
    for line in logical:
        keyword, _, rest = line.partition(" ")
        keyword, rest = keyword.upper(), rest.strip()
        if keyword == "ARG" and not stages:
            arg, _, default = rest.partition("=")
            args[arg] = default
            continue
        if keyword == "FROM":
            words = rest.split()
            image = re.sub(r"\$\{(\w+)\}", lambda m: args[m.group(1)], words[0])
            alias = words[2] if len(words) == 3 and words[1].upper() == "AS" else None
            stages.append(Stage(image=image, name=alias))
            continue
        assert stages, f"{keyword} before the first FROM"
        stage = stages[-1]
        stage.instructions.append((keyword, rest))
        if keyword == "WORKDIR":
            stage.workdir = posixpath.join(stage.workdir, rest)
        elif keyword == "RUN":
            stage.runs.append(rest)
        elif keyword == "COPY":
            words = shlex.split(rest)
            origin = next((w.split("=", 1)[1] for w in words if w.startswith("--from=")), None)
            paths = [w for w in words if not w.startswith("--")]
            stage.copies.append((paths[:-1], paths[-1], origin))
    return stages


def image_env(stage: Stage) -> str:
    return " ".join(rest for keyword, rest in stage.instructions if keyword == "ENV")


def makefile_recipe(target: str) -> list[str]:
    """The recipe lines of a Makefile rule, without the silencing @."""
    lines = (ROOT / "Makefile").read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(f"{target}:"))
    recipe = []
    for line in lines[start + 1 :]:
        if not line.startswith("\t"):
            break
        recipe.append(line.strip().lstrip("@"))
    assert recipe, f"the Makefile rule {target} has no recipe"
    return recipe


def in_frontend(command: str) -> str:
    """A Makefile command run in frontend/ (`cd frontend && X`) as run from there (X)."""
    prefix = "cd frontend && "
    assert command.startswith(prefix), f"expected a command run in frontend/: {command}"
    return command.removeprefix(prefix)


def pip_install_target(command: str) -> tuple[str, bool]:
    """What `pip install` installs in a command, and whether as editable."""
    words = shlex.split(command)
    at = words.index("install")
    targets = [w for w in words[at + 1 :] if not w.startswith("-")]
    assert len(targets) == 1, f"expected one thing installed by: {command}"
    return targets[0], "-e" in words[at + 1 :] or "--editable" in words[at + 1 :]


@pytest.fixture(scope="module")
def stages() -> list[Stage]:
    return parse_dockerfile((ROOT / "Dockerfile").read_text())


def test_dockerfile_builds_the_web_ui_with_the_commands_of_make_web(stages: list[Stage]) -> None:
    web = next(s for s in stages if s.name == "web")
    assert web.image.startswith("node:20"), web.image
    assert web.workdir.endswith("/frontend"), "the web stage must run npm in the frontend folder, as the Makefile does"
    npm_install = [in_frontend(c) for c in makefile_recipe("$(NPM_STAMP)") if not c.startswith("touch")]
    npm_build = [in_frontend(c) for c in makefile_recipe("$(WEB_INDEX)")]
    expected = npm_install + npm_build
    assert web.runs == expected, f"Dockerfile web stage runs {web.runs}, `make web` runs {expected}"
    # The dependencies are installed from the manifest and the lock alone (a layer that survives source edits).
    first_copy = web.copies[0]
    assert sorted(first_copy[0]) == ["frontend/package-lock.json", "frontend/package.json"]


def test_dockerfile_takes_the_ui_from_where_vite_writes_it(stages: list[Stage]) -> None:
    web = next(s for s in stages if s.name == "web")
    out_dir = re.search(r"outDir:\s*\"([^\"]+)\"", (ROOT / "frontend" / "vite.config.ts").read_text())
    assert out_dir, "vite.config.ts has no build.outDir"
    built = posixpath.normpath(posixpath.join(web.workdir, out_dir.group(1)))
    copied = [
        (source, destination, stage)
        for stage in stages
        for sources, destination, origin in stage.copies
        if origin == "web"
        for source in sources
    ]
    assert copied, "no stage copies the built UI out of the web stage"
    for source, destination, stage in copied:
        assert posixpath.normpath(source) == built, f"copies {source}, vite writes {built}"
        package_root = next(
            posixpath.normpath(posixpath.join(stage.workdir, dst))
            for sources, dst, origin in stage.copies
            if origin is None and "pyproject.toml" in sources
        )
        assert posixpath.normpath(posixpath.join(stage.workdir, destination)) == posixpath.join(
            package_root, "src/portal/web"
        ), "the UI must land in src/portal/web of the package that is installed (package-data web/**/*)"


def test_dockerfile_installs_the_package_as_make_install_does(stages: list[Stage]) -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    make_installs = [c for c in makefile_recipe("$(STAMP)") if "pip install" in c and "--upgrade pip" not in c]
    assert len(make_installs) == 1, make_installs
    make_target, make_editable = pip_install_target(make_installs[0])
    assert make_editable, "make install installs the package editable (the Dockerfile must not)"

    installs = [run for s in stages for run in s.runs if re.search(r"\bpip install\b", run)]
    assert len(installs) == 1, f"one `pip install` of the package expected, found {installs}"
    target, editable = pip_install_target(installs[0])
    assert not editable, "the image installs the package, not a link to sources it does not keep"
    path, _, extras = target.partition("[")
    assert path == make_target.partition("[")[0] == ".", f"the image installs {target}, make install {make_target}"
    # Extras, if any, are production ones (never the dev tools).
    chosen = {e.strip() for e in extras.rstrip("]").split(",") if e.strip()}
    available = set(pyproject["project"].get("optional-dependencies", {})) - {"dev"}
    assert chosen <= available, f"extras {chosen - available} are not production extras of pyproject.toml"
    # A distributed worker needs Celery: if pyproject keeps it in an extra, that extra must be installed.
    for extra, requirements in pyproject["project"].get("optional-dependencies", {}).items():
        if extra != "dev" and any(r.lower().startswith("celery") for r in requirements):
            assert extra in chosen, f"Celery is in the extra [{extra}], which the image does not install"


def test_dockerfile_runtime_stage(stages: list[Stage]) -> None:
    runtime = stages[-1]
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert runtime.name is None or runtime.name not in {"web", "build"}
    assert runtime.image.startswith("python:3.11-slim"), runtime.image
    python_version = runtime.image.split(":")[1].split("-")[0]
    assert SpecifierSet(pyproject["project"]["requires-python"]).contains(python_version + ".0")
    runs = " ".join(runtime.runs)
    assert re.search(r"apt-get install[^&]*\bgit\b", runs), "catalog Git imports need the git CLI in the image"
    instructions = dict(runtime.instructions)
    user = instructions.get("USER", "root").split(":")[0]
    assert user.isdigit(), "USER must be numeric so that Kubernetes' runAsNonRoot can check it"
    assert int(user) != 0
    assert "8000" in instructions.get("EXPOSE", "").split()
    assert json.loads(instructions["CMD"]) == SERVE
    assert json.loads(instructions["ENTRYPOINT"]) == ["tini", "--"]
    assert "PORTAL_DATA_DIR=/var/lib/portal" in image_env(runtime)
    # No sources and no build tools in the runtime image: it only copies the built environment.
    assert [origin for _, _, origin in runtime.copies] == ["build"]


def test_dockerignore_keeps_secrets_out_and_lets_the_build_inputs_in(stages: list[Stage]) -> None:
    patterns = ignore_patterns(ROOT / ".dockerignore")
    for secret in (
        "deploy/portal.env",
        "deploy/postgres.env",
        "deploy/redis.env",
        "deploy/kubernetes/secret.yaml",
        "x/.env",
    ):
        assert ignored_by(patterns, secret, docker=True), f"{secret} would be sent to the Docker build"
    for heavy in (".git/HEAD", ".venv/bin/python", "frontend/node_modules/vite/package.json", "data/portal.db"):
        assert ignored_by(patterns, heavy, docker=True), f"{heavy} would be sent to the Docker build"
    # The local UI build must not win over the one the image builds.
    assert ignored_by(patterns, "src/portal/web/index.html", docker=True)
    for stage in stages:
        for sources, _, origin in stage.copies:
            if origin is None:
                for source in sources:
                    hit = ignored_by(patterns, source.rstrip("/"), docker=True)
                    assert hit is None, f"COPY {source} but .dockerignore excludes it ({hit})"
                    assert (ROOT / source).exists(), f"COPY {source}: no such file in the repository"


# --- deploy/compose.yaml -------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    document = yaml.safe_load(COMPOSE_FILE.read_text())
    assert isinstance(document, dict)
    return document


def services_of(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    services = compose["services"]
    assert isinstance(services, dict)
    return services


def portal_services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The services that run the portal's image (built from the repository's Dockerfile)."""
    return {name: s for name, s in services_of(compose).items() if "build" in s}


def command_of(service: dict[str, Any]) -> list[str]:
    command = service.get("command", [])
    return shlex.split(command) if isinstance(command, str) else list(command)


def test_vendored_compose_schema_is_the_recorded_one() -> None:
    assert hashlib.sha256(COMPOSE_SCHEMA.read_bytes()).hexdigest() == COMPOSE_SCHEMA_SHA256
    assert COMPOSE_SCHEMA_SHA256 in (COMPOSE_SCHEMA.parent / "README.md").read_text()


def test_compose_file_matches_the_compose_specification(compose: dict[str, Any]) -> None:
    schema = json.loads(COMPOSE_SCHEMA.read_text())
    validator_class = jsonschema.validators.validator_for(schema)
    validator_class.check_schema(schema)
    validator = validator_class(schema, format_checker=validator_class.FORMAT_CHECKER)
    errors = [f"{error.json_path}: {error.message}" for error in validator.iter_errors(compose)]
    assert not errors, "\n".join(errors)


def test_compose_schema_check_catches_a_misspelt_key(compose: dict[str, Any]) -> None:
    # The schema check above is only worth something if it rejects what Compose rejects.
    schema = json.loads(COMPOSE_SCHEMA.read_text())
    validator = jsonschema.validators.validator_for(schema)(schema)
    broken = json.loads(json.dumps(compose))
    broken["services"]["worker"]["healthchek"] = broken["services"]["worker"].pop("healthcheck")
    assert any("healthchek" in error.message for error in validator.iter_errors(broken))


def test_compose_services_and_their_dependencies(compose: dict[str, Any]) -> None:
    services = services_of(compose)
    assert {"postgres", "redis", "migrate", "api", "worker"} <= set(services)
    declared_volumes = set(compose.get("volumes") or {})
    for name, service in services.items():
        depends = service.get("depends_on", {})
        for target, spec in depends.items() if isinstance(depends, dict) else ((d, {}) for d in depends):
            assert target in services, f"{name} depends on {target}, which is no service"
            if spec.get("condition") == "service_healthy":
                assert "healthcheck" in services[target], f"{name} waits for {target} to be healthy: it has no check"
        for volume in service.get("volumes", []):
            source = volume.split(":")[0] if isinstance(volume, str) else volume.get("source", "")
            if source and not source.startswith((".", "/", "~")):
                assert source in declared_volumes, f"{name} mounts the undeclared volume {source}"
    migrate_first = {"condition": "service_completed_successfully"}
    for name in ("api", "worker"):
        assert services[name]["depends_on"]["migrate"] == migrate_first, f"{name} must start after the migration"
        assert services[name]["depends_on"]["redis"] == {"condition": "service_healthy"}
    assert services["migrate"]["depends_on"]["postgres"] == {"condition": "service_healthy"}
    assert str(services["migrate"].get("restart", "no")) == "no", "the migration is a one-shot service"


def test_compose_commands_and_healthchecks(compose: dict[str, Any]) -> None:
    services = services_of(compose)
    assert command_of(services["migrate"]) == MIGRATE
    assert command_of(services["api"]) == SERVE
    assert any(str(port).endswith(":8000") for port in services["api"]["ports"])
    workers = [name for name, s in portal_services(compose).items() if command_of(s) == WORKER]
    assert "worker" in workers
    for name in workers:
        assert services[name]["healthcheck"]["test"] == ["CMD", *WORKER_CHECK], name
    api_check = " ".join(services["api"]["healthcheck"]["test"])
    assert re.search(r"http://(127\.0\.0\.1|localhost):8000/readyz\b", api_check), api_check
    assert " ".join(services["postgres"]["healthcheck"]["test"]).count("pg_isready") == 1
    assert services["redis"]["healthcheck"]["test"][0] == "CMD-SHELL"
    assert "redis-cli ping" in services["redis"]["healthcheck"]["test"][1]
    assert {"postgres-data", "redis-data"} <= set(compose["volumes"])
    # Every portal container runs the same image.
    assert len({s["image"] for s in portal_services(compose).values()}) == 1
    assert {command_of(s)[1] for s in portal_services(compose).values()} == {"serve", "worker", "migrate"}


def test_compose_env_files_have_examples_and_stay_out_of_git(compose: dict[str, Any]) -> None:
    gitignore = ignore_patterns(ROOT / ".gitignore")
    env_files = set()
    for name, service in services_of(compose).items():
        files = service.get("env_file", [])
        for entry in [files] if isinstance(files, str) else files:
            path = entry if isinstance(entry, str) else entry["path"]
            env_files.add(path)
            assert (DEPLOY / f"{path}.example").is_file(), f"{name}: env_file {path} has no {path}.example"
            assert ignored_by(gitignore, f"deploy/{path}", docker=False), f"deploy/{path} is not in .gitignore"
    assert ignored_by(gitignore, "deploy/kubernetes/secret.yaml", docker=False), "the filled-in Secret is not ignored"
    assert {"portal.env", "postgres.env", "redis.env"} <= env_files
    for name, service in portal_services(compose).items():
        assert service.get("env_file") == "portal.env", f"{name} must read portal.env"


def test_compose_settings_are_real_settings(compose: dict[str, Any]) -> None:
    values, commented = read_env_file(DEPLOY / "portal.env.example")
    problems = unknown_settings(values, "portal.env.example")
    problems += unknown_settings(commented, "portal.env.example (commented out)")
    assert not problems, "\n".join(problems)
    assert set(values) >= REQUIRED_DISTRIBUTED, f"missing: {REQUIRED_DISTRIBUTED - set(values)}"
    for name, service in portal_services(compose).items():
        environment = service.get("environment", {})
        assert isinstance(environment, dict), f"{name}: environment as a mapping"
        overrides = {k: str(v) for k, v in environment.items()}
        assert not unknown_settings(overrides, f"compose {name}"), overrides
        assert_distributed(settings_from(values | overrides, f"compose {name}"), f"compose {name}")
    network = services_of(compose)["worker-network"]["environment"]
    assert settings_from(values | network, "compose worker-network").worker_queues == ["network"]


def test_compose_settings_fit_the_services(compose: dict[str, Any]) -> None:
    values, _ = read_env_file(DEPLOY / "portal.env.example")
    postgres, _ = read_env_file(DEPLOY / "postgres.env.example")
    services = services_of(compose)
    database = urlsplit(values["PORTAL_DATABASE_URL"])
    assert database.scheme == "postgresql+psycopg"
    assert database.hostname in services and services[database.hostname]["image"].startswith("postgres:")
    assert database.username == postgres["POSTGRES_USER"]
    assert database.password == postgres["POSTGRES_PASSWORD"], "the two example files disagree on the password"
    assert database.path.lstrip("/") == postgres["POSTGRES_DB"]
    redis, _ = read_env_file(DEPLOY / "redis.env.example")
    assert "--requirepass" in " ".join(services["redis"]["command"]), "Redis must require a password"
    for name in ("PORTAL_BROKER_URL", "PORTAL_REDIS_URL"):
        url = urlsplit(values[name])
        assert url.scheme == "redis" and url.hostname == "redis" and "redis" in services, values[name]
        assert url.password == redis["REDIS_PASSWORD"], f"{name} and redis.env disagree on the password"
    # The broker and the event bus do not share a Redis database (Celery's keys stay apart from pub/sub).
    assert urlsplit(values["PORTAL_BROKER_URL"]).path != urlsplit(values["PORTAL_REDIS_URL"]).path
    assert values["PORTAL_WORKER_PREFETCH"] == "1"


def test_example_files_hold_no_secrets() -> None:
    values, _ = read_env_file(DEPLOY / "portal.env.example")
    for name in SECRET_SETTINGS & set(values):
        assert values[name] == "", f"{name} must be empty in the example (generated by whoever deploys)"
    secret = next(yaml.safe_load_all((KUBE / "secret.example.yaml").read_text()))
    for name, value in secret["stringData"].items():
        if name in SECRET_SETTINGS:
            assert value == "", f"secret.example.yaml: {name} must be empty"
        else:
            assert "CHANGE-ME" in value, f"secret.example.yaml: {name} must be a CHANGE-ME placeholder"
    postgres, _ = read_env_file(DEPLOY / "postgres.env.example")
    assert "CHANGE-ME" in postgres["POSTGRES_PASSWORD"]
    redis, _ = read_env_file(DEPLOY / "redis.env.example")
    assert "CHANGE-ME" in redis["REDIS_PASSWORD"]
    for path in [*DEPLOY.glob("*.example"), *KUBE.glob("*.yaml")]:
        for token in re.findall(r"[A-Za-z0-9_=-]{44}", path.read_text()):
            assert not looks_like_fernet_key(token), f"{path.name} holds what looks like a real Fernet key"


def test_compose_workers_may_make_the_namespaces_of_the_job_sandbox(compose: dict[str, Any]) -> None:
    for name, service in services_of(compose).items():
        if service.get("command") == WORKER:
            options = set(service.get("security_opt", []))
            assert {"seccomp=unconfined", "apparmor=unconfined", "systempaths=unconfined"} <= options, name


def test_worker_grace_period_is_the_same_in_compose_and_kubernetes(compose: dict[str, Any]) -> None:
    grace = services_of(compose)["worker"]["stop_grace_period"]
    match = re.fullmatch(r"(\d+)(m|s)", grace)
    assert match, f"stop_grace_period {grace!r}: use minutes or seconds"
    seconds = int(match.group(1)) * (60 if match.group(2) == "m" else 1)
    worker = kube_documents()["worker-deployment.yaml"][0]
    assert worker["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] == seconds
    assert seconds >= 300, "Celery's warm shutdown needs time for running jobs to finish"


# --- deploy/kubernetes/ --------------------------------------------------------------------------------------------


def kube_documents() -> dict[str, list[dict[str, Any]]]:
    documents = {}
    for path in sorted(KUBE.glob("*.yaml")):
        loaded = [d for d in yaml.safe_load_all(path.read_text()) if d is not None]
        assert loaded, f"{path.name} is empty"
        assert all(isinstance(d, dict) for d in loaded)
        documents[path.name] = loaded
    return documents


def kube_objects() -> list[dict[str, Any]]:
    return [d for docs in kube_documents().values() for d in docs if d.get("kind") != "Kustomization"]


def kubernetes_versions() -> list[str]:
    versions = [
        v for v in kubernetes_validate.utils.all_versions() if tuple(map(int, v.split(".")[:2])) >= OLDEST_KUBERNETES
    ]
    assert versions, f"kubernetes-validate bundles no schemas for Kubernetes {OLDEST_KUBERNETES} or newer"
    return versions


def pod_templates() -> dict[str, dict[str, Any]]:
    """Each workload's pod spec, by the workload's name."""
    return {
        o["metadata"]["name"]: o["spec"]["template"]["spec"]
        for o in kube_objects()
        if o["kind"] in ("Deployment", "Job", "StatefulSet", "DaemonSet")
    }


def containers_of(pod: dict[str, Any]) -> list[dict[str, Any]]:
    return [*pod.get("initContainers", []), *pod["containers"]]


def only_container(name: str) -> dict[str, Any]:
    containers = pod_templates()[name]["containers"]
    assert len(containers) == 1, name
    container: dict[str, Any] = containers[0]
    return container


@pytest.mark.parametrize("file", sorted(p.name for p in KUBE.glob("*.yaml") if p.name != "kustomization.yaml"))
def test_kubernetes_manifests_match_the_kubernetes_schemas(file: str) -> None:
    # Strict: unknown fields are errors (kubectl would drop them silently, or refuse them with server-side apply).
    for document in kube_documents()[file]:
        for version in kubernetes_versions():
            try:
                kubernetes_validate.validate(document, version, strict=True)
            except kubernetes_validate.ValidationError as exc:
                pytest.fail(
                    f"{file}: {document['kind']} {document['metadata']['name']} for Kubernetes {version}: {exc}"
                )


def test_kubernetes_schema_check_catches_a_misspelt_field() -> None:
    broken = json.loads(json.dumps(kube_documents()["api-deployment.yaml"][0]))
    broken["spec"]["template"]["spec"]["containers"][0]["readinessprobe"] = {}
    with pytest.raises(kubernetes_validate.ValidationError, match="readinessprobe"):
        kubernetes_validate.validate(broken, kubernetes_versions()[-1], strict=True)


def test_kustomization_lists_every_manifest_but_the_secret_example() -> None:
    kustomization = kube_documents()["kustomization.yaml"][0]
    listed = kustomization["resources"]
    on_disk = {p.name for p in KUBE.glob("*.yaml")} - {"kustomization.yaml", "secret.example.yaml"}
    assert sorted(listed) == sorted(on_disk), "kustomization.yaml must list exactly the manifests of the folder"
    # `kubectl apply -k` would put the placeholders back over the real secret values on every apply.
    assert "secret.example.yaml" not in listed
    assert kustomization["namespace"] == next(o for o in kube_objects() if o["kind"] == "Namespace")["metadata"]["name"]
    images = {image["name"] for image in kustomization["images"]}
    used = {c["image"] for pod in pod_templates().values() for c in containers_of(pod)}
    assert used == images, f"containers use {used}, kustomization.yaml sets {images}"


def test_kubernetes_workloads_run_the_portal_commands() -> None:
    assert only_container("portal-api")["args"] == SERVE
    assert only_container("portal-worker")["args"] == WORKER
    assert only_container("portal-migrate")["args"] == MIGRATE
    for name, pod in pod_templates().items():
        for container in containers_of(pod):
            # `command` would replace the image's entrypoint (tini, which reaps killed jobs' processes).
            assert "command" not in container, f"{name}: use args, not command"


def test_kubernetes_probes() -> None:
    api = only_container("portal-api")
    ports = {p["name"]: p["containerPort"] for p in api["ports"]}
    assert ports == {"http": 8000}
    assert api["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert api["livenessProbe"]["httpGet"]["path"] == "/livez"
    for probe in ("readinessProbe", "livenessProbe", "startupProbe"):
        port = api[probe]["httpGet"]["port"]
        assert ports.get(port, port) == 8000, f"{probe} checks port {port}"
    worker = only_container("portal-worker")
    assert worker["livenessProbe"]["exec"]["command"] == WORKER_CHECK
    assert worker["livenessProbe"]["timeoutSeconds"] >= 10, "the check starts a Python process and asks the database"
    grace = pod_templates()["portal-worker"]["terminationGracePeriodSeconds"]
    assert grace >= 300, "Celery's warm shutdown needs time for running jobs to finish"


def test_kubernetes_containers_have_resources_and_run_unprivileged() -> None:
    for name, pod in pod_templates().items():
        pod_security = pod.get("securityContext", {})
        assert pod_security.get("runAsNonRoot") is True, name
        assert pod_security.get("runAsUser", 0) != 0, name
        # Workers make the job sandbox's namespaces (which RuntimeDefault refuses) inside a pod user namespace,
        # and install their own seccomp filter in every job; every other pod keeps the runtime's profile.
        if name == "portal-worker":
            assert pod.get("hostUsers") is False, name
            assert pod_security.get("seccompProfile", {}).get("type") == "Unconfined", name
        else:
            assert pod_security.get("seccompProfile", {}).get("type") == "RuntimeDefault", name
        assert pod.get("automountServiceAccountToken") is False, f"{name} needs no Kubernetes API access"
        volumes = {v["name"]: v for v in pod.get("volumes", [])}
        for container in containers_of(pod):
            where = f"{name}/{container['name']}"
            requests = container.get("resources", {}).get("requests", {})
            assert {"cpu", "memory"} <= set(requests), f"{where} has no cpu and memory requests"
            assert "memory" in container["resources"].get("limits", {}), f"{where} has no memory limit"
            security = container.get("securityContext", {})
            assert security.get("allowPrivilegeEscalation") is False, where
            assert security.get("capabilities", {}).get("drop") == ["ALL"], where
            assert not security.get("privileged", False), where
            # A read-only root: the data dir and /tmp are emptyDirs (nothing on a node outlives its pod).
            mounts = {m["mountPath"]: m["name"] for m in container.get("volumeMounts", [])}
            if security.get("readOnlyRootFilesystem"):
                for path in ("/var/lib/portal", "/tmp"):
                    assert path in mounts, f"{where}: {path} must be writable"
                    assert "emptyDir" in volumes[mounts[path]], f"{where}: {path} is an emptyDir"


def test_kubernetes_settings_are_real_settings() -> None:
    objects = kube_objects()
    configmap = next(o for o in objects if o["kind"] == "ConfigMap")
    secret = next(yaml.safe_load_all((KUBE / "secret.example.yaml").read_text()))
    problems = unknown_settings(configmap["data"], "ConfigMap")
    problems += unknown_settings(secret["stringData"], "Secret")
    for name, pod in pod_templates().items():
        for container in containers_of(pod):
            where = f"{name}/{container['name']}"
            env = {e["name"]: e.get("value", "") for e in container.get("env", [])}
            problems += unknown_settings(env, f"{where} env")
            assert_distributed(settings_from(configmap["data"] | secret["stringData"] | env, where), where)
    assert not problems, "\n".join(problems)
    assert not set(configmap["data"]) & set(secret["stringData"]), "a setting in both the ConfigMap and the Secret"
    assert set(configmap["data"]) | set(secret["stringData"]) >= REQUIRED_DISTRIBUTED
    assert SECRET_SETTINGS - {"PORTAL_GIT_WEBHOOK_SECRET"} <= set(secret["stringData"])
    assert not (SECRET_SETTINGS | {"PORTAL_DATABASE_URL"}) & set(configmap["data"]), "secrets belong in the Secret"
    assert configmap["data"]["PORTAL_EXECUTOR"] == "celery"
    # Every workload reads both, by the names they really have.
    for name, pod in pod_templates().items():
        for container in containers_of(pod):
            sources = container.get("envFrom", [])
            assert {"configMapRef": {"name": configmap["metadata"]["name"]}} in sources, name
            assert {"secretRef": {"name": secret["metadata"]["name"]}} in sources, name
            mounts = {m["mountPath"] for m in container.get("volumeMounts", [])}
            assert configmap["data"]["PORTAL_DATA_DIR"] in mounts, f"{name}: the data dir is not mounted"


def test_kubernetes_objects_refer_to_each_other() -> None:
    objects = kube_objects()
    deployments = {o["metadata"]["name"]: o for o in objects if o["kind"] == "Deployment"}
    api_labels = deployments["portal-api"]["spec"]["template"]["metadata"]["labels"]
    assert deployments["portal-api"]["spec"]["replicas"] >= 2
    for o in objects:
        kind, spec = o["kind"], o.get("spec", {})
        if kind == "Deployment":
            selector = spec["selector"]["matchLabels"]
            labels = spec["template"]["metadata"]["labels"]
            assert selector.items() <= labels.items(), f"{o['metadata']['name']}: the selector misses its pods"
        if kind == "Service":
            assert spec["selector"].items() <= api_labels.items(), "the Service does not select the API pods"
            assert all(p["targetPort"] in ("http", 8000) for p in spec["ports"])
        if kind == "PodDisruptionBudget":
            match = spec["selector"]["matchLabels"].items()
            chosen = [n for n, d in deployments.items() if match <= d["spec"]["template"]["metadata"]["labels"].items()]
            assert len(chosen) == 1, f"PodDisruptionBudget {o['metadata']['name']} selects {chosen}"
        if kind == "HorizontalPodAutoscaler":
            target = spec["scaleTargetRef"]
            assert target["kind"] == "Deployment" and target["name"] in deployments
            assert spec["minReplicas"] <= deployments[target["name"]]["spec"]["replicas"] <= spec["maxReplicas"]


def test_data_dir_is_the_same_everywhere(stages: list[Stage]) -> None:
    configmap = next(o for o in kube_objects() if o["kind"] == "ConfigMap")
    values, _ = read_env_file(DEPLOY / "portal.env.example")
    assert f"PORTAL_DATA_DIR={values['PORTAL_DATA_DIR']}" in image_env(stages[-1]).split()
    assert configmap["data"]["PORTAL_DATA_DIR"] == values["PORTAL_DATA_DIR"]


def test_operations_guide_covers_the_distributed_deployment() -> None:
    guide = (ROOT / "docs" / "operations.md").read_text()
    headings = set(re.findall(r"^## (.+)$", guide, flags=re.MULTILINE))
    for heading in (
        "Distributed mode",
        "Deploying with Compose",
        "Deploying on Kubernetes",
        "Scaling",
        "Upgrades",
        "Backups",
        "Restoring",
    ):
        assert heading in headings, f"docs/operations.md has no section {heading!r}"
