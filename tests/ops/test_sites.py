"""`microcv sites validate`: each parser's errors, keys nobody reads, and the check_site hook."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from consumers.ops.catalog import build_catalog
from consumers.ops.cli import main
from consumers.ops.sitecheck import uncovered_keys, unknown_keys, validate_file

REPO = Path(__file__).resolve().parents[2]


def _validate(tmp_path: Path, text: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    path = tmp_path / "sites.toml"
    path.write_text(text)
    code = main(["sites", "validate", str(path)])
    out, err = capsys.readouterr()
    return code, out + err


def test_the_example_and_the_demo_configs_are_valid(capsys: pytest.CaptureFixture[str]) -> None:
    for path in (REPO / "deploy" / "sites.example.toml", REPO / "deploy" / "sites.toml"):
        assert main(["sites", "validate", str(path)]) == 0, capsys.readouterr()
        out, _ = capsys.readouterr()
        assert f"{path}: ok" in out and "checked by snippet.sites, snippet.generator" in out


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("[sites.a\n", "not valid TOML"),
        ("[sites.a]\nread_tokens = ['t']\n", "[sites.a].domains: a non-empty list of host names"),
        (
            "[sites.a]\ndomains = ['https://a.example/']\n",
            "[sites.a].domains: 'https://a.example/' is not a host name",
        ),
        ("[sites.A]\ndomains = ['a.example']\n", "[sites.A]: a site id is 1-64 characters"),
        (
            "[sites.a]\ndomains = ['a.example']\nread_token = ['t']\n",
            "[sites.a].read_token: unknown key (no package reads it)",
        ),
        (
            "[sites.a]\ndomains = ['a.example']\n[sites.a.tag]\nflush_ms = -1\n",
            "[sites.a.tag].flush_ms: expected milliseconds",
        ),
        (
            "[sites.a]\ndomains = ['a.example']\n[sites.a.tag]\nflush = 1\n",
            "[sites.a.tag].flush: unknown option",
        ),
    ],
)
def test_errors_name_the_key(
    text: str, error: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, output = _validate(tmp_path, text, capsys)
    assert code == 1
    assert error in output
    assert "Traceback" not in output


def test_rules_across_sites_are_checked(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    key = "k" * 20
    text = (
        f"[sites.a]\ndomains = ['a.example']\nwrite_keys = ['{key}']\n"
        f"[sites.b]\ndomains = ['b.example']\nwrite_keys = ['{key}']\n"
    )
    code, output = _validate(tmp_path, text, capsys)
    assert code == 1
    assert "[sites.b].write_keys: a key of [sites.a] too" in output
    assert "(checked by collector.writekeys)" in output


def test_every_site_is_checked_and_every_error_reported(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = (
        "[sites.a]\ndomains = ['a.example']\ntypo = 1\n"
        "[sites.b]\ndomains = ['b.example']\n[sites.b.tag]\nclicks = 'yes'\n"
    )
    code, output = _validate(tmp_path, text, capsys)
    assert code == 1
    assert "[sites.a].typo: unknown key" in output
    assert "[sites.b.tag].clicks: expected true or false" in output
    assert "2 error(s)" in output


PLUGIN = """
from snippet.sites import SitesConfigError

SITE_KEYS = {
    "goals": "Goals of the site.",
    "goals.*.steps": "Steps of one goal.",
    "goals.*.window": "Window of one goal.",
}


def check_site(site):
    for name, goal in site.raw.get("goals", {}).items():
        if not goal.get("steps"):
            raise SitesConfigError(f"[sites.{site.id}.goals.{name}].steps: at least one step")
"""


def test_a_module_declaring_keys_is_documented_and_checked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    package = tmp_path / "plugpkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "goals.py").write_text(PLUGIN)
    monkeypatch.syspath_prepend(str(tmp_path))
    catalog = build_catalog(("snippet", "plugpkg"))
    assert {k.key for k in catalog.site_keys if k.module == "plugpkg.goals"} == {
        "goals",
        "goals.*.steps",
        "goals.*.window",
    }
    path = tmp_path / "sites.toml"
    path.write_text(
        "[sites.a]\ndomains = ['a.example']\n[sites.a.goals.buy]\nsteps = []\nwindwo = 3\n"
    )
    _, errors = validate_file(path, catalog)
    assert errors == [
        "[sites.a].goals.buy.windwo: unknown key (no package reads it)",
        "[sites.a.goals.buy].steps: at least one step (checked by plugpkg.goals)",
    ]
    sys.modules.pop("plugpkg.goals", None)
    sys.modules.pop("plugpkg", None)


def test_key_patterns() -> None:
    catalog = build_catalog(("snippet",))
    raw = {"domains": ["a"], "tag": {"anything": 1}, "funnels": [{"steps": []}]}
    # tag options are declared one by one (snippet.generator.SITE_KEYS): an unknown one is flagged.
    assert unknown_keys(raw, catalog.site_keys) == ["tag.anything", "funnels"]
    uncovered = uncovered_keys([{"domains": ["a"]}], catalog.site_keys)
    assert set(uncovered) == {"read_tokens", "tag"} | {
        k.key for k in catalog.site_keys if k.key.startswith("tag.")
    }
