"""Put a rendered tag into HTML pages, between the marker comments a page carries for it.

Pages mark the tag block as

    <!-- microcv tag -->
    <script>...</script>
    <!-- /microcv tag -->

so tooling can re-render the tag (another collector URL, another port) without touching the rest.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Final

START: Final = "<!-- microcv tag -->"
END: Final = "<!-- /microcv tag -->"

_BLOCK = re.compile(
    r"^(?P<indent>[ \t]*)" + re.escape(START) + r".*?" + re.escape(END), re.DOTALL | re.MULTILINE
)


def paste_tag(html: str, tag: str) -> str:
    """Replace the tag block in `html` with `tag`; ValueError unless there is exactly one block."""
    if html.count(START) != 1 or html.count(END) != 1:
        raise ValueError(f"expected one {START!r} ... {END!r} block, each marker on its own line")
    match = _BLOCK.search(html)
    if match is None:
        raise ValueError(f"{START!r} must start a line and come before {END!r}")
    indent = match["indent"]
    block = f"{indent}{START}\n{tag.strip()}\n{indent}{END}"
    return html[: match.start()] + block + html[match.end() :]


def paste_into_dir(src: Path, out: Path, tag: str) -> list[Path]:
    """Copy `src` to `out` with the tag block of every .html file re-rendered; returns those files.

    `out` may be `src` itself (re-render in place) but not a directory inside it. Files already in
    `out` are overwritten, others are left alone.
    """
    src, out = src.resolve(), out.resolve()
    if not src.is_dir():
        raise ValueError(f"{src}: not a directory")
    if out != src:
        if out.is_relative_to(src):
            raise ValueError(f"{out}: the output directory must not be inside {src}")
        shutil.copytree(src, out, dirs_exist_ok=True)
    pages = sorted(out.rglob("*.html"))
    # Check every page before writing any, so a bad page leaves no half-rendered directory.
    rendered = [(page, paste_tag(page.read_text(encoding="utf-8"), tag)) for page in pages]
    for page, html in rendered:
        page.write_text(html, encoding="utf-8")
    return pages
