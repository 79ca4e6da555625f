"""docker-compose.yml, Dockerfile and .dockerignore, checked statically (no Docker engine needed).

The compose file is validated against the Compose specification's JSON schema, then against what the
hub needs: one image for every hub process, dependencies that exist and can be waited for, one service
per consumer. The Dockerfile and .dockerignore are checked for what a build would otherwise find out.
"""

from __future__ import annotations

import copy
import json
import os
import re
import stat
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from jsonschema import Draft7Validator

from hub.topology import CONSUMERS as HUB_CONSUMERS
from infra.settings_sources import production_problems

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
# A worktree beside the project can point at the schema with HUB_TEST_COMPOSE_SCHEMA.
SCHEMA_PATH = Path(
    os.environ.get("HUB_TEST_COMPOSE_SCHEMA") or ROOT.parent / "shared" / "schemas" / "compose-spec.json"
)
COMPOSE_PATH = ROOT / "docker-compose.yml"
ENV_EXAMPLE_PATH = ROOT / ".env.example"
MAKE_ENV = ROOT / "scripts" / "make-env.sh"
DOCKERFILE_PATH = ROOT / "Dockerfile"
DOCKERIGNORE_PATH = ROOT / ".dockerignore"

# Every consumer the hub knows runs as its own service, and so does the standalone outbox relay.
CONSUMERS = frozenset({*HUB_CONSUMERS, "relay"})
IMAGE = "city-contact-hub:latest"
# Every service that runs the `hub` console script.
HUB_SERVICES = CONSUMERS | {"migrate", "api"}


# --- loading ------------------------------------------------------------------------------------------


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader that refuses duplicate keys, as Compose does (PyYAML silently keeps the last one)."""


def _construct_mapping_no_duplicates(loader: _StrictLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    seen: set[Any] = set()
    for key_node, _ in node.value:
        if key_node.tag == "tag:yaml.org,2002:merge":  # `<<: *anchor`: explicit keys may override these
            continue
        key = loader.construct_object(key_node, deep=True)
        if key in seen:
            raise yaml.constructor.ConstructorError(
                "while constructing a mapping", node.start_mark, f"found duplicate key {key!r}", key_node.start_mark
            )
        seen.add(key)
    loader.flatten_mapping(node)
    return dict(loader.construct_pairs(node, deep=True))


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping_no_duplicates)


def _load_yaml(text: str) -> Any:
    return yaml.load(text, Loader=_StrictLoader)  # a SafeLoader subclass: no arbitrary objects


@pytest.fixture(scope="module")
def validator() -> Draft7Validator:
    if not SCHEMA_PATH.is_file():
        pytest.fail(
            f"Compose JSON schema not found: looked for {SCHEMA_PATH} "
            "(the project's sibling directory shared/schemas/compose-spec.json)."
        )
    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    Draft7Validator.check_schema(schema)
    return Draft7Validator(schema)


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    assert COMPOSE_PATH.is_file(), f"missing {COMPOSE_PATH}"
    document = _load_yaml(COMPOSE_PATH.read_text(encoding="utf-8"))
    assert isinstance(document, dict), "docker-compose.yml must be a mapping"
    return document


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    services: dict[str, dict[str, Any]] = compose["services"]
    return services


def _errors(validator: Draft7Validator, document: Any) -> list[str]:
    return [
        f"{'/'.join(map(str, error.absolute_path)) or '<root>'}: {error.message}"
        for error in sorted(validator.iter_errors(document), key=lambda e: list(map(str, e.absolute_path)))
    ]


def _depends_on(service: dict[str, Any]) -> dict[str, str]:
    """`depends_on` in either of its forms, as {service: condition}."""
    depends_on = service.get("depends_on", {})
    if isinstance(depends_on, list):
        return dict.fromkeys(depends_on, "service_started")
    return {name: spec.get("condition", "service_started") for name, spec in depends_on.items()}


def _build_context(service: dict[str, Any]) -> str | None:
    build = service.get("build")
    if build is None:
        return None
    context = build if isinstance(build, str) else build.get("context", ".")
    return str((COMPOSE_PATH.parent / context).resolve())


# --- the Compose specification ------------------------------------------------------------------------


def test_compose_file_is_valid_against_the_compose_specification(
    validator: Draft7Validator, compose: dict[str, Any]
) -> None:
    assert _errors(validator, compose) == []


@pytest.mark.parametrize(
    ("breakage", "where"),
    [
        pytest.param(lambda d: d["services"]["router"].update(ports="not-a-list"), "services/router/ports", id="ports"),
        pytest.param(lambda d: d.update(servicez={}), "<root>", id="unknown-top-level-key"),
        pytest.param(lambda d: d["services"]["router"].update(restartt="always"), "services/router", id="unknown-key"),
        pytest.param(
            lambda d: d["services"]["relay"]["depends_on"]["migrate"].update(condition="service_done"),
            "services/relay/depends_on",
            id="bad-condition",
        ),
        pytest.param(lambda d: d["services"]["api"].update(restart=False), "services/api/restart", id="unquoted-no"),
    ],
)
def test_the_validation_rejects_a_broken_document(
    validator: Draft7Validator, compose: dict[str, Any], breakage: Any, where: str
) -> None:
    broken = copy.deepcopy(compose)
    breakage(broken)
    errors = _errors(validator, broken)
    assert errors, "the schema accepted a broken document: the validation proves nothing"
    assert any(error.startswith(where) for error in errors), errors


def test_duplicate_keys_are_refused() -> None:
    with pytest.raises(yaml.constructor.ConstructorError, match="duplicate key 'image'"):
        _load_yaml("services:\n  a:\n    image: x\n    image: y\n")
    # ...while a key that overrides one brought in by a merge key is fine.
    assert _load_yaml("x: &x {image: x}\ns:\n  <<: *x\n  image: y\n")["s"] == {"image": "y"}


# --- what the hub needs -------------------------------------------------------------------------------


def test_every_hub_process_runs_the_one_image_built_from_the_project(services: dict[str, dict[str, Any]]) -> None:
    missing = HUB_SERVICES - services.keys()
    assert not missing, f"services missing from docker-compose.yml: {sorted(missing)}"
    for name in sorted(HUB_SERVICES):
        service = services[name]
        assert service.get("image") == IMAGE, f"{name}: image must be {IMAGE!r}"
        assert _build_context(service) == str(ROOT), f"{name}: must be built from the project's Dockerfile"
        assert "entrypoint" not in service, f"{name}: the image's ENTRYPOINT (hub) must not be overridden"
    # Nothing else builds or claims the hub's image.
    for name, service in services.items():
        if name not in HUB_SERVICES:
            assert "build" not in service, f"{name}: unexpected build"
            assert service.get("image") != IMAGE, f"{name}: runs the hub's image but is not a known hub service"


def test_each_consumer_has_exactly_one_service_running_it(services: dict[str, dict[str, Any]]) -> None:
    run_services: dict[str, str] = {}
    for name, service in services.items():
        command = service.get("command")
        if isinstance(command, list) and command[:1] == ["run"]:
            assert len(command) == 2, f"{name}: `run` takes one consumer name, got {command}"
            consumer = command[1]
            assert consumer in CONSUMERS, f"{name}: `run {consumer}` names no consumer (known: {sorted(CONSUMERS)})"
            assert consumer not in run_services.values(), f"{name}: consumer {consumer!r} runs in two services"
            run_services[name] = consumer
        else:
            assert not (isinstance(command, str) and command.split()[:1] == ["run"]), f"{name}: use a list command"
    assert sorted(run_services.values()) == sorted(CONSUMERS)
    for name, consumer in run_services.items():
        assert name == consumer, f"service {name!r} should be named after the consumer it runs ({consumer!r})"


def test_every_depends_on_names_an_existing_service_it_can_wait_for(services: dict[str, dict[str, Any]]) -> None:
    for name, service in services.items():
        for dependency, condition in _depends_on(service).items():
            assert dependency in services, f"{name}: depends_on names no service: {dependency!r}"
            assert dependency != name, f"{name}: depends on itself"
            if condition == "service_healthy":
                assert "healthcheck" in services[dependency], f"{name} waits for {dependency} healthy: no healthcheck"
            if condition == "service_completed_successfully":
                assert services[dependency].get("restart", "no") == "no", f"{dependency} is one-shot: restart 'no'"


def test_consumers_and_api_wait_for_the_broker_and_the_migrations(services: dict[str, dict[str, Any]]) -> None:
    assert _depends_on(services["migrate"]) == {"postgres": "service_healthy"}
    assert services["migrate"]["command"] == ["db", "upgrade"]
    for name in sorted(CONSUMERS | {"api"}):
        depends_on = _depends_on(services[name])
        assert depends_on.get("rabbitmq") == "service_healthy", name
        assert depends_on.get("migrate") == "service_completed_successfully", name
        assert services[name].get("restart") == "unless-stopped", name
    assert services["router"]["deploy"]["replicas"] >= 2
    for name in sorted(CONSUMERS):
        assert "ports" not in services[name], f"{name}: a published port would stop it from having replicas"
        assert "container_name" not in services[name], f"{name}: a container_name would stop it from having replicas"


def test_infrastructure_and_api(compose: dict[str, Any], services: dict[str, dict[str, Any]]) -> None:
    rabbitmq, postgres, api = services["rabbitmq"], services["postgres"], services["api"]
    assert rabbitmq["image"] == "rabbitmq:3.13-management"
    assert {"127.0.0.1:5672:5672", "127.0.0.1:15672:15672"} <= set(_published(rabbitmq))
    assert rabbitmq["healthcheck"]["test"] == ["CMD", "rabbitmq-diagnostics", "-q", "ping"]
    assert postgres["image"] == "postgres:16"
    assert {postgres["environment"][key] for key in ("POSTGRES_USER", "POSTGRES_PASSWORD", "POSTGRES_DB")} == {
        "${POSTGRES_USER:?run scripts/make-env.sh}",
        "${POSTGRES_PASSWORD:?run scripts/make-env.sh}",
        "${POSTGRES_DB:?run scripts/make-env.sh}",
    }
    assert "pg_isready" in " ".join(postgres["healthcheck"]["test"])

    assert api["command"] == ["serve", "--host", "0.0.0.0", "--port", "8080"]
    assert "127.0.0.1:8080:8080" in _published(api)
    assert "/health/ready" in " ".join(api["healthcheck"]["test"])

    declared = set(compose.get("volumes") or {})
    for name, service in services.items():
        for volume in service.get("volumes", []):
            source = volume.split(":", 1)[0] if isinstance(volume, str) else volume.get("source", "")
            if source and not source.startswith((".", "/", "~")):
                assert source in declared, f"{name}: named volume {source!r} is not declared at the top level"
    assert {"rabbitmq", "postgres"} <= {name for name, service in services.items() if service.get("volumes")}, (
        "the broker and the database keep their data in volumes"
    )


def test_hub_services_reach_the_broker_and_database_by_service_name(generated_env: dict[str, str]) -> None:
    services = _resolved(generated_env)["services"]
    rabbit_env = services["rabbitmq"]["environment"]
    credentials = f"{rabbit_env['RABBITMQ_DEFAULT_USER']}:{rabbit_env['RABBITMQ_DEFAULT_PASS']}"
    pg = services["postgres"]["environment"]
    database = f"{pg['POSTGRES_USER']}:{pg['POSTGRES_PASSWORD']}@postgres:5432/{pg['POSTGRES_DB']}"
    for name in sorted(HUB_SERVICES):
        environment = services[name]["environment"]
        assert isinstance(environment, dict), f"{name}: environment as a mapping"
        assert environment["HUB_AMQP_URL"] == f"amqp://{credentials}@rabbitmq:5672/", name
        assert environment["HUB_DATABASE_URL"] == f"postgresql+asyncpg://{database}", name
        assert generated_env["RABBITMQ_PASSWORD"] in environment["HUB_AMQP_URL"]
        assert generated_env["POSTGRES_PASSWORD"] in environment["HUB_DATABASE_URL"]
        # In production mode, which refuses default credentials at start-up: the generated ones pass.
        assert environment["HUB_ENV"] == "production", name
        assert production_problems(environment["HUB_AMQP_URL"], environment["HUB_DATABASE_URL"]) == [], name


# --- safe defaults: no credentials in the file, ports on 127.0.0.1, a generated .env ----------------------------

_VARIABLE = re.compile(
    r"\$(?:\$|\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\}|(?P<bare>[A-Za-z_]\w*))"
)


class MissingVariable(Exception):
    pass


def _interpolate(text: str, env: dict[str, str]) -> str:
    """Compose's interpolation: $$, ${VAR}, ${VAR:-default}, ${VAR-default}, ${VAR:?error}, ${VAR?error}, $VAR."""

    def one(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$$"  # kept for the container's shell, as Compose leaves it to the command
        name = match.group("name") or match.group("bare")
        op, arg = match.group("op"), match.group("arg") or ""
        value = env.get(name)
        unset = value is None or (op is not None and op.startswith(":") and value == "")
        if unset and op is not None and op.endswith("?"):
            raise MissingVariable(f"{name}: {arg}")
        if unset and op is not None and op.endswith("-"):
            return arg
        return value or ""

    return _VARIABLE.sub(one, text)


def _resolved(env: dict[str, str]) -> dict[str, Any]:
    document = _load_yaml(_interpolate(COMPOSE_PATH.read_text(encoding="utf-8"), env))
    assert isinstance(document, dict)
    return document


def _published(service: dict[str, Any], env: dict[str, str] | None = None) -> list[str]:
    """The service's published ports (short syntax), with the file's defaults (or `env`) filled in."""
    return [_interpolate(str(port), env or {}) for port in service.get("ports", [])]


def _env_file(path: Path) -> dict[str, str]:
    values = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            key, _, value = line.partition("=")
            values[key.strip()] = value.strip()
    return values


def _make_env(output: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(MAKE_ENV), "--output", str(output), *args], capture_output=True, text=True, timeout=60, check=False
    )


@pytest.fixture(scope="module")
def generated_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    path = tmp_path_factory.mktemp("env") / ".env"
    done = _make_env(path)
    assert done.returncode == 0, done.stderr
    return _env_file(path)


def _required_variables() -> set[str]:
    text = COMPOSE_PATH.read_text(encoding="utf-8")
    return {m.group("name") for m in _VARIABLE.finditer(text) if m.group("op") in (":?", "?")}


def _all_variables() -> set[str]:
    text = COMPOSE_PATH.read_text(encoding="utf-8")
    return {m.group("name") or m.group("bare") for m in _VARIABLE.finditer(text) if m.group(0) != "$$"}


def test_no_credentials_are_written_in_the_compose_file(services: dict[str, dict[str, Any]]) -> None:
    text = COMPOSE_PATH.read_text(encoding="utf-8")
    assert "guest" not in text
    credential = re.compile(r"PASS|PASSWORD|SECRET|TOKEN|_USER$", re.IGNORECASE)
    for name, service in services.items():
        environment = service.get("environment") or {}
        assert isinstance(environment, dict), f"{name}: environment as a mapping"
        for key, value in environment.items():
            if credential.search(key):
                assert re.fullmatch(r"\$\{[A-Z_]+:\?[^}]+\}", str(value)), f"{name}: {key} is written in the file"
            # A URL's user and password are variables, never literals.
            for userinfo in re.findall(r"://([^@/\s]+)@", str(value)):
                assert re.fullmatch(r"(\$\{[A-Z_]+:\?[^}]+\}):(\$\{[A-Z_]+:\?[^}]+\})", userinfo), f"{name}: {key}"


def test_without_a_generated_env_file_compose_stops_and_says_how_to_make_one() -> None:
    assert {"RABBITMQ_USER", "RABBITMQ_PASSWORD", "POSTGRES_USER", "POSTGRES_PASSWORD", "POSTGRES_DB"} <= (
        _required_variables()
    )
    with pytest.raises(MissingVariable, match=r"run scripts/make-env\.sh"):
        _resolved({})


def test_published_ports_listen_on_127_0_0_1_unless_configured(services: dict[str, dict[str, Any]]) -> None:
    published = {name: _published(service) for name, service in services.items() if service.get("ports")}
    # The newcomers profile adds the mail catcher's web UI and Prometheus, on 127.0.0.1 too.
    assert set(published) == {"rabbitmq", "api", "mailpit", "prometheus"}
    for name, ports in published.items():
        for port in ports:
            assert port.startswith("127.0.0.1:"), f"{name}: {port} would listen on every address of the host"
    opened = {"BROKER_PUBLISH_ADDRESS": "10.0.0.5", "API_PUBLISH_ADDRESS": "10.0.0.6"}
    assert _published(services["rabbitmq"], opened) == ["10.0.0.5:5672:5672", "10.0.0.5:15672:15672"]
    assert _published(services["api"], opened) == ["10.0.0.6:8080:8080"]


def test_make_env_generates_every_variable_with_fresh_passwords(
    tmp_path: Path, validator: Draft7Validator, generated_env: dict[str, str]
) -> None:
    path = tmp_path / ".env"
    done = _make_env(path)
    assert done.returncode == 0, done.stderr
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    again = _env_file(path)
    assert _all_variables() <= set(again)
    for key in ("RABBITMQ_PASSWORD", "POSTGRES_PASSWORD"):
        assert re.fullmatch(r"[A-Za-z0-9_-]{32,}", again[key]), key  # URL-safe: used in the URLs as it is
        assert again[key] != generated_env[key], f"{key} is generated, not fixed"
    assert again["RABBITMQ_PASSWORD"] != again["POSTGRES_PASSWORD"]
    assert _errors(validator, _resolved(again)) == []
    # An existing file is kept (its passwords are the volumes' passwords) unless --force.
    before = path.read_text()
    refused = _make_env(path)
    assert refused.returncode != 0
    assert "--force" in refused.stderr
    assert path.read_text() == before
    assert _make_env(path, "--force").returncode == 0
    assert path.read_text() != before


def test_env_example_documents_every_variable_and_holds_no_password() -> None:
    example = _env_file(ENV_EXAMPLE_PATH)
    assert _all_variables() <= set(example)
    text = ENV_EXAMPLE_PATH.read_text(encoding="utf-8")
    assert "scripts/make-env.sh" in text
    for key in ("RABBITMQ_PASSWORD", "POSTGRES_PASSWORD"):
        assert example[key] == "generated-by-scripts-make-env-sh"
    assert ".env" in (ROOT / ".gitignore").read_text(encoding="utf-8").split()


def test_shared_settings_come_from_one_extension_field() -> None:
    text = COMPOSE_PATH.read_text(encoding="utf-8")
    assert re.search(r"^x-[\w-]+:\s*&", text, re.MULTILINE), "shared settings belong in an x- field with an anchor"
    assert text.count("HUB_AMQP_URL:") == 1, "HUB_AMQP_URL is written once, in the shared x- field"


# --- Dockerfile and .dockerignore ---------------------------------------------------------------------


def _dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, with continuation lines joined and comments dropped."""
    assert DOCKERFILE_PATH.is_file(), f"missing {DOCKERFILE_PATH}"
    logical = re.sub(r"\\\n", " ", DOCKERFILE_PATH.read_text(encoding="utf-8"))
    instructions: list[tuple[str, str]] = []
    for line in logical.splitlines():
        stripped = line.strip()
        if stripped and not stripped.startswith("#"):
            keyword, _, arguments = stripped.partition(" ")
            instructions.append((keyword.upper(), arguments.strip()))
    return instructions


def _final_stage() -> list[tuple[str, str]]:
    instructions = _dockerfile_instructions()
    last_from = max(i for i, (keyword, _) in enumerate(instructions) if keyword == "FROM")
    return instructions[last_from:]


def _last(stage: list[tuple[str, str]], keyword: str) -> str:
    values = [arguments for kw, arguments in stage if kw == keyword]
    assert values, f"the Dockerfile's final stage has no {keyword}"
    return values[-1]


def test_dockerfile_entrypoint_is_hub_and_runs_all_consumers_by_default() -> None:
    stage = _final_stage()
    assert json.loads(_last(stage, "ENTRYPOINT")) == ["hub"]
    assert json.loads(_last(stage, "CMD")) == ["run", "all"]


def test_dockerfile_is_multi_stage_slim_and_non_root() -> None:
    instructions = _dockerfile_instructions()
    bases = [arguments.split()[0] for keyword, arguments in instructions if keyword == "FROM"]
    assert len(bases) >= 2, "multi-stage build expected"
    assert all(base == "python:3.11-slim" for base in bases), bases
    runs = [arguments for kw, arguments in instructions if kw == "RUN"]
    # The locked dependencies, hash-checked, then the project alone from its own sources.
    assert any(re.search(r"pip install --require-hashes --no-deps -r requirements/base\.txt", run) for run in runs)
    assert any(re.search(r"pip install --no-deps --no-build-isolation \.(\s|$)", run) for run in runs)
    stage = _final_stage()
    user = _last(stage, "USER").split(":")[0]
    assert user not in {"root", "0"}, "the image must not run as root"
    assert any(kw == "ENV" and re.search(r"PYTHONUNBUFFERED=1\b", arguments) for kw, arguments in stage)
    assert _last(stage, "HEALTHCHECK").upper() == "NONE"


def _copy_sources() -> list[str]:
    sources: list[str] = []
    for keyword, arguments in _dockerfile_instructions():
        if keyword == "COPY" and "--from=" not in arguments:
            words = [word for word in arguments.split() if not word.startswith("--")]
            sources.extend(word.rstrip("/") for word in words[:-1])
    return sources


def test_dockerfile_copies_what_the_package_build_needs() -> None:
    sources = set(_copy_sources())
    assert {
        "pyproject.toml",
        "README.md",
        "LICENSE",
        "requirements/base.txt",
        "hub",
        "consumers",
        "contracts",
        "infra",
    } <= sources, sources
    for source in sources - {"README.md"}:  # README.md: see test_readme_exists_for_the_image_build
        assert (ROOT / source).exists(), f"the Dockerfile copies {source}, which does not exist"


def _dockerignore_rules() -> list[tuple[bool, re.Pattern[str]]]:
    """(excludes, pattern) in file order; the last rule that matches a path or one of its parents wins."""
    rules: list[tuple[bool, re.Pattern[str]]] = []
    for raw in DOCKERIGNORE_PATH.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        include = line.startswith("!")
        pattern = line.removeprefix("!").strip().strip("/")
        regex = ""
        for token in re.split(r"(\*\*/|\*\*|\*|\?|\[[^\]]*\])", pattern):
            if token == "**/":
                regex += "(?:.*/)?"
            elif token == "**":
                regex += ".*"
            elif token == "*":
                regex += "[^/]*"
            elif token == "?":
                regex += "[^/]"
            elif token.startswith("["):
                regex += token
            else:
                regex += re.escape(token)
        rules.append((not include, re.compile(regex)))
    return rules


def _ignored(path: str) -> bool:
    parts = path.split("/")
    candidates = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    ignored = False
    for excludes, regex in _dockerignore_rules():
        if any(regex.fullmatch(candidate) for candidate in candidates):
            ignored = excludes
    return ignored


@pytest.mark.parametrize(
    "path",
    [
        "pyproject.toml",
        "README.md",
        "LICENSE",
        "requirements/base.txt",
        "hub/__init__.py",
        "hub/config/calendar.yaml",
        "consumers/__init__.py",
        "contracts/reports.py",
        "infra/topology.py",
        "infra/migrations/versions/0001_initial.py",
    ],
)
def test_dockerignore_keeps_what_the_build_copies(path: str) -> None:
    assert not _ignored(path)


@pytest.mark.parametrize(
    "path",
    [
        ".git/HEAD",
        ".venv/bin/python",
        ".env",
        "hub/.env",
        "hub/__pycache__/settings.cpython-311.pyc",
        "tests/unit/test_compose.py",
        "hub.sqlite3",
        "city_contact_hub.egg-info/PKG-INFO",
        "docker-compose.yml",
    ],
)
def test_dockerignore_keeps_secrets_and_clutter_out_of_the_build_context(path: str) -> None:
    assert _ignored(path)


def test_dockerignore_covers_every_copied_source() -> None:
    for source in _copy_sources():
        assert not _ignored(source), f".dockerignore drops {source}, which the Dockerfile copies"


def test_readme_exists_for_the_image_build() -> None:
    # pyproject.toml declares readme = "README.md" and the Dockerfile copies it: `docker build` fails without it.
    assert (ROOT / "README.md").is_file(), f"{ROOT / 'README.md'} is missing: `COPY ... README.md` fails the build"
