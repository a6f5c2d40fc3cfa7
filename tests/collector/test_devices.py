"""The device class the collector adds to pageviews (collector/devices.py)."""

from __future__ import annotations

import pytest

from collector.devices import device_of, with_device
from collector.schema import Event
from tests.collector.conftest import CHROME_UA

IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1"
)
PIXEL = (
    "Mozilla/5.0 (Linux; Android 15; Pixel 9) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Mobile Safari/537.36"
)
IPAD = (
    "Mozilla/5.0 (iPad; CPU OS 17_7 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.7 Mobile/15E148 Safari/604.1"
)
GALAXY_TAB = (
    "Mozilla/5.0 (Linux; Android 14; SM-X710) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36"
)
FIREFOX_MOBILE = "Mozilla/5.0 (Android 15; Mobile; rv:133.0) Gecko/133.0 Firefox/133.0"
MAC_SAFARI = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/18.1 Safari/605.1.15"
)
WINDOWS_EDGE = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0"
)


@pytest.mark.parametrize(
    ("user_agent", "device"),
    [
        (IPHONE, "mobile"),
        (PIXEL, "mobile"),
        (FIREFOX_MOBILE, "mobile"),
        (IPAD, "tablet"),  # it says "Mobile" too
        (GALAXY_TAB, "tablet"),  # Android without "Mobi"
        (MAC_SAFARI, "desktop"),
        (WINDOWS_EDGE, "desktop"),
        (CHROME_UA, "desktop"),
        ("", None),
        ("python-httpx/0.28.1", None),
        ("curl/8.11.0", None),
    ],
)
def test_device_class_from_the_user_agent(user_agent: str, device: str | None) -> None:
    assert device_of(user_agent) == device


def test_only_pageviews_without_their_own_device_get_one() -> None:
    view = Event("e1", "pageview", "", 1, "http://x/", "", "pv", {})
    assert with_device(view, "mobile").props == {"device": "mobile"}
    own = view._replace(props={"device": "tablet"})
    assert with_device(own, "mobile").props == {"device": "tablet"}
    width = view._replace(props={"vw": 1400})
    assert with_device(width, "mobile").props == {"vw": 1400}
    click = view._replace(kind="click")
    assert with_device(click, "mobile").props == {}
    assert with_device(view, None).props == {}
