"""`microcv tag` is the snippet CLI's output; `microcv probe` is the containers' health check."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from consumers.ops.cli import main

import services

REPO = Path(__file__).resolve().parents[2]
SCRIPT = Path(sys.executable).parent / "microcv"


def test_tag_prints_what_the_snippet_cli_prints() -> None:
    args = ["--sites", str(REPO / "deploy" / "sites.toml"), "--site", "demo"]
    args += ["--collector", "https://collect.example.com"]
    # Both from this checkout, whatever the console script's install points at.
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    ours = subprocess.run(
        [SCRIPT, "tag", *args], capture_output=True, text=True, timeout=60, env=env, cwd=REPO
    )
    theirs = subprocess.run(
        [sys.executable, "-m", "snippet", *args],
        capture_output=True, text=True, timeout=60, env=env, cwd=REPO,
    )  # fmt: skip
    assert ours.returncode == theirs.returncode == 0
    assert ours.stdout == theirs.stdout
    assert (
        ours.stdout.startswith("<script>")
        and "https://collect.example.com/v1/collect" in ours.stdout
    )


def test_tag_errors_come_from_the_snippet_cli(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["tag", "--sites", str(REPO / "deploy" / "sites.toml"), "--site", "nope"]) == 2
    assert "no site 'nope'" in capsys.readouterr().err


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200 if self.path == "/healthz" else 503)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_probe(server: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["probe", f"{server}/healthz"]) == 0
    assert main(["probe", f"{server}/readyz"]) == 1
    closed = f"http://127.0.0.1:{services.free_port()}/healthz"
    assert main(["probe", closed]) == 1
    assert "Connection refused" in capsys.readouterr().err
    # Several URLs: healthy when any answers (one image, one process, one endpoint of three).
    assert main(["probe", closed, f"{server}/readyz", f"{server}/healthz"]) == 0
    assert main(["probe", closed, f"{server}/readyz"]) == 1
