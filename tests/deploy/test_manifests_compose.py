"""deploy/compose.yaml, validated by `docker compose config` (the client needs no engine for it)
and then checked for what the stack needs: KRaft Kafka, Redis with an AOF, volumes, wiring.

Skipped only when there is no docker client at all. When the client lacks the compose plugin,
the plugin is built once from its Go module into .cache/docker (DOCKER_CONFIG points there).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from consumers.ops.catalog import build_catalog

REPO = Path(__file__).resolve().parents[2]
COMPOSE_FILE = REPO / "deploy" / "compose.yaml"
PLUGIN_CONFIG = REPO / ".cache" / "docker"  # a DOCKER_CONFIG holding cli-plugins/
COMPOSE_MODULE = "github.com/docker/compose/v2@v2.40.3"
APPS = {
    "collector": ["python", "-m", "collector"],
    "consumer": ["python", "-m", "consumers"],
    "api": ["python", "-m", "consumers.api"],
    "topics": ["microcv", "topics", "create"],
}


def _compose_works(env: dict[str, str]) -> bool:
    done = subprocess.run(
        ["docker", "compose", "version"], env=env, capture_output=True, timeout=60
    )
    return done.returncode == 0


def _build_plugin(go: str) -> None:
    """Build docker-compose from its Go module (the Go module proxy serves it)."""
    target = PLUGIN_CONFIG / "cli-plugins" / "docker-compose"
    target.parent.mkdir(parents=True, exist_ok=True)
    download = subprocess.run(
        [go, "mod", "download", "-json", COMPOSE_MODULE],
        capture_output=True, text=True, timeout=600, check=True,
    )  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        # The module cache is read-only; the build writes go.sum next to the sources.
        source = Path(tmp) / "compose"
        shutil.copytree(json.loads(download.stdout)["Dir"], source)
        for path in source.rglob("*"):
            path.chmod(path.stat().st_mode | 0o200)
        partial = target.with_suffix(".partial")
        subprocess.run(
            [go, "build", "-o", str(partial), "./cmd"],
            cwd=source, env={**os.environ, "GOFLAGS": "-mod=mod"},
            capture_output=True, timeout=1800, check=True,
        )  # fmt: skip
        partial.rename(target)


@pytest.fixture(scope="session")
def compose_env() -> dict[str, str]:
    if shutil.which("docker") is None:
        pytest.skip("no docker client on this machine; compose validation needs its CLI")
    env = dict(os.environ)
    if _compose_works(env):
        return env
    env["DOCKER_CONFIG"] = str(PLUGIN_CONFIG)
    if not _compose_works(env):
        go = shutil.which("go") or "/usr/local/go/bin/go"
        if not Path(go).exists():
            pytest.fail("docker has no compose plugin and no Go toolchain is here to build it")
        _build_plugin(go)
    assert _compose_works(env)
    return env


def _config(env: dict[str, str], path: Path = COMPOSE_FILE) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["docker", "compose", "-f", str(path), "config", "--format", "json"],
        env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip


@pytest.fixture(scope="module")
def compose(compose_env: dict[str, str]) -> dict[str, Any]:
    done = _config(compose_env)
    assert done.returncode == 0, done.stderr
    config: dict[str, Any] = json.loads(done.stdout)
    return config


def _seconds(duration: str) -> float:
    units = {"ms": 0.001, "s": 1, "m": 60, "h": 3600}
    for unit in ("ms", "s", "m", "h"):
        if duration.endswith(unit):
            return float(duration[: -len(unit)]) * units[unit]
    return float(duration)


def test_a_broken_file_is_refused(compose_env: dict[str, str], tmp_path: Path) -> None:
    broken = tmp_path / "compose.yaml"
    broken.write_text(
        "services:\n  x:\n    image: redis\n    ports: 8601\n    restart: sometimes\n"
    )
    assert _config(compose_env, broken).returncode != 0


def test_services_and_volumes(compose: dict[str, Any]) -> None:
    assert set(compose["services"]) == {"kafka", "redis", *APPS}
    assert set(compose["volumes"]) >= {"kafka-data", "redis-data", "spool"}


def test_kafka_runs_in_kraft_mode_on_a_volume(compose: dict[str, Any]) -> None:
    kafka = compose["services"]["kafka"]
    assert kafka["image"].startswith("apache/kafka:")
    env = kafka["environment"]
    assert set(env["KAFKA_PROCESS_ROLES"].split(",")) == {"broker", "controller"}
    assert "zookeeper" not in json.dumps(compose).lower()
    assert env["KAFKA_AUTO_CREATE_TOPICS_ENABLE"] == "false"  # `microcv topics create` does it
    mounts = {v["target"]: v for v in kafka["volumes"]}
    assert mounts[env["KAFKA_LOG_DIRS"]]["source"] == "kafka-data"
    assert "healthcheck" in kafka


def test_redis_keeps_an_append_only_file_fsynced_every_second(compose: dict[str, Any]) -> None:
    redis = compose["services"]["redis"]
    command = " ".join(redis["command"])
    assert "--appendonly yes" in command and "--appendfsync everysec" in command
    assert {v["target"]: v["source"] for v in redis["volumes"]}["/data"] == "redis-data"


def test_apps_are_wired_by_known_environment_variables(compose: dict[str, Any]) -> None:
    known = {s.env for cls in build_catalog().settings for s in cls.settings}
    for name, command in APPS.items():
        service = compose["services"][name]
        assert service["command"] == command
        env = service["environment"]
        unknown = set(env) - known
        assert not unknown, f"{name}: no settings field reads {sorted(unknown)}"
        assert env["MICROCV_KAFKA_BOOTSTRAP"].split(":")[0] == "kafka"
        assert urlsplit(env["MICROCV_REDIS_URL"]).hostname == "redis"
        mounts = {v["target"]: v for v in service["volumes"]}
        assert Path(mounts[env["MICROCV_SITES"]]["source"]).is_file()
        # Docker's SIGKILL must come after the process's own grace period.
        assert _seconds(service["stop_grace_period"]) > float(env["MICROCV_GRACE_S"])


def test_collector_spools_to_a_volume(compose: dict[str, Any]) -> None:
    collector = compose["services"]["collector"]
    mounts = {v["target"]: v for v in collector["volumes"]}
    assert mounts[collector["environment"]["MICROCV_SPOOL_DIR"]]["source"] == "spool"


def test_consumers_scale(compose: dict[str, Any]) -> None:
    # `--scale consumer=N` needs a service without a fixed container name or host port.
    consumer = compose["services"]["consumer"]
    assert "container_name" not in consumer and "ports" not in consumer
    for name in ("collector", "consumer", "api"):
        assert compose["services"][name]["depends_on"]["redis"]["condition"] == "service_healthy"
    assert (
        compose["services"]["consumer"]["depends_on"]["topics"]["condition"]
        == "service_completed_successfully"
    )
