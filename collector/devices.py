"""The device class of a browser, from its User-Agent: what the tag need not send.

The consumers break pageviews down by device (consumers/dimensions.py reads a `device` prop,
else a viewport width `vw`). The tag sends neither (every byte of it counts), so the collector
adds `device` to each pageview from the request's User-Agent, unless the page sent one itself.

The rule follows MDN ("Browser detection using the user agent"): a string naming a tablet
(iPad, Kindle, Silk, PlayBook, "Tablet") is a tablet, checked first because an iPad's also says
"Mobile"; then "Mobi" anywhere means a phone; then Android without "Mobi" is a tablet; anything
else is a desktop. An iPad that asks for desktop sites (iPadOS's default) says "Macintosh" and
counts as a desktop: the string holds nothing else to tell.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Final, Literal

from collector.schema import Event

Device = Literal["mobile", "tablet", "desktop"]

_TABLET: Final = re.compile(r"iPad|Tablet|Silk|Kindle|PlayBook", re.IGNORECASE)


@lru_cache(maxsize=4096)
def device_of(user_agent: str) -> Device | None:
    """The device class, or None when the User-Agent is no browser's (empty, an HTTP library, a
    tool replaying old events: `microcv replay`): nothing to tell."""
    if not user_agent.startswith("Mozilla/"):
        return None
    if _TABLET.search(user_agent):
        return "tablet"
    if "Mobi" in user_agent:
        return "mobile"
    return "tablet" if "Android" in user_agent else "desktop"


def with_device(event: Event, device: Device | None) -> Event:
    """A pageview with the `device` prop added when it has neither `device` nor `vw`."""
    if event.kind != "pageview" or device is None or "device" in event.props or "vw" in event.props:
        return event
    return event._replace(props={**event.props, "device": device})
