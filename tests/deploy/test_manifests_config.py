"""The configuration reference and the example sites file cannot drift from the code."""

from __future__ import annotations

import tomllib
from pathlib import Path

from consumers.ops.catalog import build_catalog
from consumers.ops.configdoc import main as configdoc_main
from consumers.ops.configdoc import render
from consumers.ops.sitecheck import uncovered_keys, validate_file

REPO = Path(__file__).resolve().parents[2]
DOC = REPO / "docs" / "configuration.md"
EXAMPLE = REPO / "deploy" / "sites.example.toml"


def test_configuration_reference_is_fresh() -> None:
    fresh = render(build_catalog())
    assert DOC.read_text(encoding="utf-8") == fresh, (
        "docs/configuration.md is stale: make config-docs"
    )


def test_the_check_mode_fails_on_a_stale_file(tmp_path: Path) -> None:
    stale = tmp_path / "configuration.md"
    stale.write_text(render(build_catalog()).replace("MICROCV_TOPIC", "MICROCV_TOPICS", 1))
    assert configdoc_main(["--check", "--out", str(stale)]) == 1
    assert configdoc_main(["--write", "--out", str(stale)]) == 0
    assert configdoc_main(["--check", "--out", str(stale)]) == 0


def test_every_setting_and_site_key_is_in_the_reference() -> None:
    catalog = build_catalog()
    text = DOC.read_text(encoding="utf-8")
    assert {"collector.settings.Settings", "consumers.settings.Settings"} <= {
        c.qualname for c in catalog.settings
    }
    for cls in catalog.settings:
        for setting in cls.settings:
            assert setting.doc.strip(), f"{setting.env} in {cls.qualname} has no doc"
            assert f"| `{setting.env}` |" in text
    for key in catalog.site_keys:
        assert key.doc.strip(), f"{key.key} in {key.module} has no doc"
        assert f"| `{key.key}` |" in text


def test_the_example_sites_file_shows_every_key_and_is_valid() -> None:
    catalog = build_catalog()
    with EXAMPLE.open("rb") as f:
        raw_sites = tomllib.load(f)["sites"].values()
    missing = uncovered_keys(raw_sites, catalog.site_keys)
    assert not missing, f"deploy/sites.example.toml lacks documented keys: {missing}"
    sites, errors = validate_file(EXAMPLE, catalog)
    assert sites is not None and not errors, errors
