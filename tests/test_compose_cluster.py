"""The cluster profile of docker-compose.yml: valid, shaped as docs/scaling.md says, every
long-running service with a healthcheck, no secret with a default, and its pieces (EMQX,
HAProxy, Prometheus, the replica's entry point) agreeing with each other and with the
console's routes.

No Docker engine is needed: ``docker-compose config`` renders the file, and the other
engines' configurations are read with their own tools where the machine has them
(``haproxy -c``, ``promtool check config``) and parsed otherwise.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml
from pyhocon import ConfigFactory, ConfigTree

from hub.settings import load_settings
from ops_console.app import create_app
from tests.test_compose import REQUIRED, ROOT, _config

# The secrets only the cluster uses, checked at start by the cluster-preflight service.
CLUSTER_SECRETS = {
    "CITYHUB_REPLICATION_PASSWORD": "test-replication-password",
    "CITYHUB_CONSOLE_DB_PASSWORD": "test-console-db-password",
    "CITYHUB_ANALYTICS_DB_PASSWORD": "test-analytics-db-password",
    "CITYHUB_EXPORTER_DB_PASSWORD": "test-exporter-db-password",
    "CITYHUB_BROKER_AUTH_SECRET": "Kq7wZ2mX9pL4vB8nR3tY6cH1sD5fG0jA",
    "CITYHUB_DEVICE_TOKEN_KEY": "Tz4rW8yN1qM6xV3bK9pL2sF7hC5gD0jE",
    "EMQX_NODE_COOKIE": "test-erlang-cookie-3f9c0a1e",
    "EMQX_DASHBOARD_PASSWORD": "test-dashboard-password",
}
SECRET_NAME = re.compile(r"PASSWORD|SECRET|_KEY$|COOKIE")
# ${VAR}, ${VAR:?message}, ${VAR:-default}; not $${…}, which the container's shell expands.
INTERPOLATION = re.compile(r"(?<!\$)\$\{(\w+)(?:(:?[-?])([^}]*))?\}")
Services = dict[str, dict[str, Any]]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Services:
    """The rendered services of the cluster profile (docker-compose config)."""
    result = _config(tmp_path_factory.mktemp("compose"), {**REQUIRED, **CLUSTER_SECRETS},
                     "--profile", "cluster", quiet=False)
    assert result.returncode == 0, result.stderr
    services: Services = yaml.safe_load(result.stdout)["services"]
    return {name: s for name, s in services.items() if "cluster" in s.get("profiles", [])}


def _emqx_conf() -> ConfigTree:
    return ConfigFactory.parse_file(str(ROOT / "deploy/emqx/emqx.conf"))


def _haproxy_servers(backend: str) -> list[tuple[str, str]]:
    """(name, host) of each `server` line of a backend of haproxy.cfg."""
    servers: list[tuple[str, str]] = []
    section = None
    for line in (ROOT / "deploy/proxy/haproxy.cfg").read_text(encoding="utf-8").splitlines():
        words = line.split()
        if line and not line[0].isspace() and words:
            section = " ".join(words[:2])
        elif section == f"backend {backend}" and words[:1] == ["server"]:
            servers.append((words[1], words[2].rsplit(":", 1)[0]))
    return servers


def _mounts(service: dict[str, Any]) -> dict[str, Path | str]:
    """target -> host path (bind mounts) or volume name, from either form compose renders."""
    mounts: dict[str, Path | str] = {}
    for volume in service.get("volumes", []):
        if isinstance(volume, str):
            source, target = volume.split(":")[:2]
        else:
            source, target = volume["source"], volume["target"]
        mounts[target] = Path(source) if source.startswith("/") else source
    return mounts


def _by_command(cluster: Services, command: str) -> Services:
    return {name: s for name, s in cluster.items() if s.get("command") == [command]}


def _aliases(service: dict[str, Any]) -> set[str]:
    networks = service.get("networks") or {}
    return {alias for n in networks.values() if n for alias in n.get("aliases", [])}


def test_the_cluster_has_its_engines_in_the_numbers_the_design_gives(cluster: Services) -> None:
    emqx = {n: s for n, s in cluster.items() if s["image"].startswith("emqx/emqx:5")}
    assert len(emqx) == 2
    names = {s["environment"]["EMQX_NODE_NAME"] for s in emqx.values()}
    assert len(names) == 2
    # Static discovery: the seeds are exactly the two nodes, whose hosts resolve by alias.
    conf = _emqx_conf()
    assert conf["cluster"]["discovery_strategy"] == "static"
    assert set(conf["cluster"]["static"]["seeds"]) == names
    for service in emqx.values():
        assert service["environment"]["EMQX_NODE_NAME"].split("@")[1] in _aliases(service)

    ingest = _by_command(cluster, "ingest")
    assert len(ingest) == 3
    envs = [s["environment"] for s in ingest.values()]
    assert len({e["CITYHUB_INGEST_CLIENT_ID"] for e in envs}) == 3  # a persistent session each
    assert {e["CITYHUB_INGEST_SHARED_GROUP"] for e in envs} == {"cityhub-ingest"}
    assert {urlsplit(e["CITYHUB_MQTT_URL"]).hostname for e in envs} == {"proxy"}
    assert {urlsplit(e["CITYHUB_DATABASE_URL"]).hostname for e in envs} == {"db-primary"}

    consoles = _by_command(cluster, "console")
    assert len(consoles) == 2
    for console in consoles.values():
        env = console["environment"]
        assert urlsplit(env["CITYHUB_DATABASE_URL"]).hostname == "db-primary"
        assert urlsplit(env["CITYHUB_REPLICA_DATABASE_URL"]).hostname == "db-replica"
        # Only the proxy's X-Forwarded-For is believed.
        assert env["CITYHUB_TRUSTED_PROXIES"] == cluster["proxy"]["networks"]["cluster"]["ipv4_address"]

    primary, replica = cluster["db-primary"], cluster["db-replica"]
    assert primary["image"].startswith("timescale/timescaledb")
    assert replica["image"] == primary["image"]
    assert "replica-entrypoint.sh" in " ".join(replica["entrypoint"])
    assert replica["environment"]["PRIMARY_HOST"] == "db-primary"
    for server in (primary, replica):
        assert "hba_file=/etc/cityhub/pg_hba.conf" in server["command"]
        assert _mounts(server)["/etc/cityhub/pg_hba.conf"] == ROOT / "deploy/postgres/pg_hba.conf"
    assert "hot_standby=on" in replica["command"]
    assert _by_command(cluster, "analytics")


def test_the_proxy_balances_both_consoles_with_websockets_and_both_brokers(cluster: Services) -> None:
    proxy = cluster["proxy"]
    assert proxy["image"].startswith("haproxy:")
    assert {p["target"] for p in proxy["ports"]} == {8080, 1883}
    consoles = set(_by_command(cluster, "console"))
    assert {host for _, host in _haproxy_servers("consoles")} == consoles
    emqx_hosts = {a for s in cluster.values() if s["image"].startswith("emqx/") for a in _aliases(s)}
    assert {host for _, host in _haproxy_servers("emqx")} == emqx_hosts
    text = (ROOT / "deploy/proxy/haproxy.cfg").read_text(encoding="utf-8")
    assert re.search(r"^\s*timeout tunnel \d+h", text, re.MULTILINE)  # the live view's WebSocket
    # The brokers' login checks never answer from outside.
    assert re.search(r"http-request deny .*if \{ path_beg /api/v1/mqtt/ \}", text)
    haproxy = shutil.which("haproxy") or shutil.which("haproxy", path="/usr/sbin")
    if haproxy:
        checked = subprocess.run([haproxy, "-c", "-f", str(ROOT / "deploy/proxy/haproxy.cfg")],
                                 capture_output=True, text=True, timeout=60, check=False)
        assert checked.returncode == 0, checked.stdout + checked.stderr


def test_emqx_checks_logins_and_topics_on_the_consoles_routes(cluster: Services) -> None:
    conf = _emqx_conf()
    authn = conf["authentication"][0]
    assert (authn["mechanism"], authn["backend"], authn["method"]) == ("password_based", "http", "post")
    authz = conf["authorization"]
    assert authz["no_match"] == "deny"  # an unanswered check never lets anyone in
    assert [s["type"] for s in authz["sources"]] == ["http"]
    app = create_app(load_settings({}, database_url="postgresql://nobody@127.0.0.1:1/none",
                                   secret_key=REQUIRED["CITYHUB_SECRET_KEY"]))
    paths = set(app.openapi()["paths"])
    for url in (authn["url"], authz["sources"][0]["url"]):
        parts = urlsplit(url)
        assert parts.path in paths
        # Through the proxy's internal port, where either console answers.
        assert (parts.hostname, parts.port) == ("proxy", 8081)
    assert re.search(r"^\s*bind :8081$", (ROOT / "deploy/proxy/haproxy.cfg").read_text(encoding="utf-8"),
                     re.MULTILINE)
    secret = CLUSTER_SECRETS["CITYHUB_BROKER_AUTH_SECRET"]
    for node in (s for s in cluster.values() if s["image"].startswith("emqx/")):
        env = node["environment"]
        assert env["EMQX_AUTHENTICATION__1__HEADERS__AUTHORIZATION"] == f'"Bearer {secret}"'
        assert env["EMQX_AUTHORIZATION__SOURCES__1__HEADERS__AUTHORIZATION"] == f'"Bearer {secret}"'
    for console in _by_command(cluster, "console").values():
        assert console["environment"]["CITYHUB_BROKER_AUTH_SECRET"] == secret


def test_prometheus_scrapes_every_service_that_has_metrics_and_loads_the_alert_rules(
    cluster: Services,
) -> None:
    assert _mounts(cluster["prometheus"])["/etc/prometheus"] == ROOT / "deploy/prometheus"
    config = yaml.safe_load((ROOT / "deploy/prometheus/prometheus.yml").read_text(encoding="utf-8"))
    assert config["rule_files"] == ["alerts.yml"]
    targets = {t for job in config["scrape_configs"] for group in job["static_configs"]
               for t in group["targets"]}
    hosts = {t.rsplit(":", 1)[0] for t in targets}
    known = set(cluster) | {a for s in cluster.values() for a in _aliases(s)} | {"localhost"}
    assert hosts <= known, hosts - known
    must = (set(_by_command(cluster, "ingest")) | set(_by_command(cluster, "console"))
            | set(_by_command(cluster, "analytics"))
            | {a for s in cluster.values() if s["image"].startswith("emqx/") for a in _aliases(s)}
            | {"proxy", "pg-exporter-primary", "pg-exporter-replica"})
    assert must <= hosts, must - hosts
    # Analytics listens beyond its container, on the port Prometheus scrapes.
    for name, service in _by_command(cluster, "analytics").items():
        env = service["environment"]
        assert env["CITYHUB_ANALYTICS_METRICS_HOST"] == "0.0.0.0"
        assert f"{name}:{env['CITYHUB_ANALYTICS_METRICS_PORT']}" in targets
    promtool = shutil.which("promtool")
    if promtool and (ROOT / "deploy/prometheus/alerts.yml").exists():
        checked = subprocess.run(
            [promtool, "check", "config", str(ROOT / "deploy/prometheus/prometheus.yml")],
            capture_output=True, text=True, timeout=60, check=False)
        assert checked.returncode == 0, checked.stdout + checked.stderr


def _depends(service: dict[str, Any]) -> dict[str, str]:
    return {name: d["condition"] for name, d in (service.get("depends_on") or {}).items()}


def test_every_long_running_cluster_service_has_a_healthcheck(cluster: Services) -> None:
    for name, service in cluster.items():
        if service.get("restart") == "no":
            # A one-shot job: what needs it waits for it to finish successfully.
            for other in cluster.values():
                if name in _depends(other):
                    assert _depends(other)[name] == "service_completed_successfully", name
            continue
        check = service.get("healthcheck") or {}
        assert check.get("test"), f"{name} has no healthcheck"
        assert not check.get("disable"), f"{name}'s healthcheck is disabled"
        assert check["test"][0] in ("CMD", "CMD-SHELL"), name


def test_every_cluster_service_waits_for_the_preflight(cluster: Services) -> None:
    def reaches(name: str, seen: frozenset[str] = frozenset()) -> bool:
        needs = set(_depends(cluster[name]))
        return "cluster-preflight" in needs or any(
            reaches(n, seen | {name}) for n in needs - seen if n in cluster)

    for name in set(cluster) - {"cluster-preflight"}:
        assert reaches(name), f"{name} can start before cluster-preflight"


def test_no_secret_has_a_default() -> None:
    text = (ROOT / "docker-compose.yml").read_text(encoding="utf-8")
    found = [m.groups() for m in INTERPOLATION.finditer(text) if SECRET_NAME.search(m.group(1))]
    assert found
    required = {name for name, op, _ in found if op == ":?"}
    checked_at_start = set(re.findall(r"\$\$\{(\w+):\?", text))
    for name, op, rest in found:
        if op is None:
            assert name in required, f"${{{name}}} is never required with :?"
        elif op == ":-":
            # Empty is the only default a secret may have, and then the preflight refuses it.
            assert rest == "", f"{name} defaults to a value"
            assert name in checked_at_start, f"{name} is not checked by cluster-preflight"
        else:
            assert op == ":?", f"{name}{op}: use :? (unset or empty is refused)"
    assert checked_at_start == set(CLUSTER_SECRETS)


def _preflight(cluster: Services, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    entrypoint = cluster["cluster-preflight"]["entrypoint"]
    assert entrypoint[:2] == ["sh", "-c"]
    script = entrypoint[2].replace("$$", "$")  # compose's escape, as the container gets it
    return subprocess.run(["sh", "-c", script], env={"PATH": os.environ["PATH"], **env},
                          capture_output=True, text=True, timeout=30, check=False)


def test_the_preflight_refuses_each_missing_cluster_secret_by_name(cluster: Services) -> None:
    given = cluster["cluster-preflight"]["environment"]
    assert given == CLUSTER_SECRETS  # the container gets what .env holds
    assert _preflight(cluster, given).returncode == 0
    for name in CLUSTER_SECRETS:
        refused = _preflight(cluster, {**given, name: ""})
        assert refused.returncode != 0, name
        assert f"set {name} in .env" in refused.stderr
        assert "deploy/README.md" in refused.stderr


def _fake_tools(bin_dir: Path, log: Path, slot_exists: bool) -> None:
    """Stand-ins for the image's PostgreSQL tools: each logs its arguments."""
    tools = {
        "pg_isready": "exit 0",
        "psql": f"echo '{1 if slot_exists else ''}'",
        "pg_basebackup": 'while [ $# -gt 0 ]; do [ "$1" = -D ] && touch "$2/PG_VERSION"; shift; done',
        "docker-entrypoint.sh": "exit 0",
    }
    bin_dir.mkdir()
    for name, body in tools.items():
        path = bin_dir / name
        path.write_text(f'#!/bin/sh\necho "{name} $*" >> "{log}"\n{body}\n', encoding="utf-8")
        path.chmod(0o755)


@pytest.mark.parametrize("slot_exists", [False, True], ids=["new-slot", "existing-slot"])
def test_the_replica_copies_the_primary_once_then_starts_postgres(tmp_path: Path, slot_exists: bool) -> None:
    log, data = tmp_path / "calls.log", tmp_path / "data"
    _fake_tools(tmp_path / "bin", log, slot_exists)
    data.mkdir()
    (data / "leftover-of-a-failed-copy").write_text("x", encoding="utf-8")
    env = {"PATH": f"{tmp_path / 'bin'}:{os.environ['PATH']}", "PGDATA": str(data),
           "PRIMARY_HOST": "db-primary", "PGPASSWORD": "pw", "REPLICATION_SLOT": "slot_a"}
    script = str(ROOT / "deploy/postgres/replica-entrypoint.sh")

    def run() -> list[str]:
        log.unlink(missing_ok=True)
        done = subprocess.run(["sh", script, "postgres", "-c", "hot_standby=on"], env=env,
                              capture_output=True, text=True, timeout=30, check=False)
        assert done.returncode == 0, done.stderr
        return log.read_text(encoding="utf-8").splitlines()

    first = run()
    backup = next(line for line in first if line.startswith("pg_basebackup "))
    assert "-h db-primary" in backup
    assert "--write-recovery-conf" in backup
    assert "--slot=slot_a" in backup
    assert ("--create-slot" in backup) is not slot_exists
    assert first[-1] == "docker-entrypoint.sh postgres -c hot_standby=on"
    assert not (data / "leftover-of-a-failed-copy").exists()
    # Started again (a restart, or a promoted replica): never copied over.
    assert run() == ["docker-entrypoint.sh postgres -c hot_standby=on"]
    assert (data / "PG_VERSION").exists()


def test_a_replica_without_its_password_refuses_to_start(tmp_path: Path) -> None:
    done = subprocess.run(["sh", str(ROOT / "deploy/postgres/replica-entrypoint.sh"), "postgres"],
                          env={"PATH": os.environ["PATH"], "PGDATA": str(tmp_path), "PRIMARY_HOST": "db",
                               "PGPASSWORD": ""},
                          capture_output=True, text=True, timeout=30, check=False)
    assert done.returncode != 0
    assert "set CITYHUB_REPLICATION_PASSWORD in .env" in done.stderr
