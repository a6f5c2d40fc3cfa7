"""Unit tests of the link rules (collector/links.py): what the tag sends of a link click, made
into the download, outbound or click event the site counts. The browser side, what the tag
really sends, is tested in tests/snippet (test_tag_clicks.py, and through the real collector in
test_tag_collector.py)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

from collector.links import classify
from collector.schema import Event, PropValue
from snippet.sites import Site

PAGE = "https://shop.example/products/mug?x=1"


def site(**tag: Any) -> Site:
    return Site(id="shop", domains=("shop.example",), tag=tag)


def click(props: Mapping[str, PropValue], kind: str = "click", name: str = "") -> Event:
    return Event("e1", kind, name, 1000, PAGE, "", "pv1", dict(props))


def counted(event: Event, **tag: Any) -> tuple[str, str, dict[str, PropValue]] | None:
    out = classify(event, site(**tag))
    return None if out is None else (out.kind, out.name, out.props)


def kind_name(event: Event, **tag: Any) -> tuple[str, str] | None:
    out = classify(event, site(**tag))
    return None if out is None else (out.kind, out.name)


@pytest.mark.parametrize(
    ("href", "dl", "expected"),
    [
        ("https://shop.example/files/Report.PDF", None, ("Report.PDF", {"ext": "pdf"})),
        ("https://shop.example/files/Mugs.tar.gz", None, ("Mugs.tar.gz", {"ext": "tar.gz"})),
        ("https://shop.example/a/my%20notes.docx", None, ("my notes.docx", {"ext": "docx"})),
        ("https://shop.example/a/bad%E0%A4.pdf", None, ("bad%E0%A4.pdf", {"ext": "pdf"})),
        ("https://shop.example/files/setup.bin", "setup-1.2.bin", ("setup-1.2.bin", {})),
        ("https://shop.example/files/setup.bin", "", ("setup.bin", {})),
        ("https://shop.example/files/a.pdf", "brochure", ("brochure", {"ext": "pdf"})),
        ("blob:", "", ("blob", {})),
        ("data:", "notes.txt", ("notes.txt", {})),
        ("https://shop.example/files/custom.MCV", None, ("custom.MCV", {"ext": "mcv"})),
        ("https://shop.example/files/a.tar.zst", None, ("a.tar.zst", {"ext": "tar.zst"})),
        # No extension: a dotted directory, a host name, an unlisted one, another scheme.
        ("https://shop.example/v1.2/index", None, None),
        ("https://files.pdf.example/", None, None),
        ("https://shop.example/files/data.epub2", None, None),
        ("mailto:", None, None),
    ],
)
def test_download_rule(
    href: str, dl: str | None, expected: tuple[str, dict[str, PropValue]] | None
) -> None:
    props: dict[str, PropValue] = {"el": "a#get", "href": href, "x": 10, "y": 20}
    if dl is not None:
        props["dl"] = dl
    out = counted(click(props), download_extensions=["mcv", "tar.zst"], outbound=False)
    if expected is None:
        assert out == ("click", "", {"el": "a#get", "x": 10, "y": 20})
    else:
        assert out == ("download", *expected)


def test_outbound_is_another_host_than_the_page() -> None:
    props: dict[str, PropValue] = {"el": "a", "href": "https://partner.example:8443/deal"}
    assert counted(click(props)) == (
        "outbound",
        "partner.example",
        {"url": "https://partner.example:8443/deal"},
    )
    same_host = {"el": "a", "href": "https://shop.example/cart"}
    assert counted(click(same_host)) == ("click", "", {"el": "a"})
    # Another port is another host, as in the browser's location.host.
    assert kind_name(click({"href": "https://shop.example:8443/"})) == ("outbound", "shop.example")
    # A file on another host is a download; without the downloads switch, an outbound link.
    pdf = {"href": "https://cdn.example/guide.pdf"}
    assert kind_name(click(pdf)) == ("download", "guide.pdf")
    assert kind_name(click(pdf), downloads=False) == ("outbound", "cdn.example")


def test_props_every_event_carries_stay() -> None:
    props: dict[str, PropValue] = {
        "el": "a",
        "href": "https://shop.example/a.pdf",
        "exp:checkout": "B",
        "uid": "crm:1",
    }
    assert counted(click(props)) == (
        "download",
        "a.pdf",
        {"exp:checkout": "B", "uid": "crm:1", "ext": "pdf"},
    )


def test_long_names_are_cut_to_the_schema_limit() -> None:
    name = "é" * 150 + ".pdf"
    out = counted(click({"href": f"https://shop.example/{name}"}))
    assert out is not None and out[1] == name[:100]


def test_tagged_clicks_and_other_kinds_are_left_alone() -> None:
    tagged = click({"href": "https://shop.example/a.pdf", "sku": "X"}, name="buy")
    assert classify(tagged, site()) is tagged
    custom = click({"href": "https://shop.example/a.pdf"}, kind="custom", name="x")
    assert classify(custom, site()) is custom
    assert counted(click({"href": 3, "el": "a"})) == ("click", "", {"el": "a"})


def test_dead_and_rage_clicks_on_links() -> None:
    pdf: dict[str, PropValue] = {"el": "a", "href": "https://shop.example/a.pdf"}
    out: dict[str, PropValue] = {"el": "a", "href": "https://partner.example/"}
    same: dict[str, PropValue] = {"el": "a", "href": "https://shop.example/#"}
    # A download or outbound link leaves the page as it was by design: no dead click.
    assert counted(click(pdf, kind="dead_click")) is None
    assert counted(click(out, kind="dead_click")) is None
    assert counted(click(same, kind="dead_click")) == ("dead_click", "", {"el": "a"})
    assert counted(click(pdf, kind="rage_click")) == ("rage_click", "", {"el": "a"})


def test_switches_decide_what_is_counted() -> None:
    link = click({"el": "a", "href": "https://shop.example/cart"})
    button = click({"el": "button#go"})
    tagged = click({}, name="buy")
    # Clicks off (the tag still sends link clicks for downloads and outbound): only those count.
    assert counted(link, clicks=False) is None
    assert counted(button, clicks=False) is None
    assert counted(tagged, clicks=False) is None
    pdf = click({"href": "https://shop.example/a.pdf"})
    assert kind_name(pdf, clicks=False) == ("download", "a.pdf")
    assert counted(pdf, downloads=False) == ("click", "", {})
    # An invalid extension list (sites validate reports it) is ignored, not a failure.
    mcv = click({"href": "https://shop.example/a.mcv"})
    assert kind_name(mcv, download_extensions="mcv") == ("click", "")
    assert kind_name(mcv, download_extensions=["M.CV", "mcv"]) == ("click", "")
