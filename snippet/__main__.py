"""Print a site's tag, or re-render it into a directory of pages.

python -m snippet --sites deploy/sites.toml --site demo [--collector URL] [--format FORMAT]
python -m snippet --sites deploy/sites.toml --site demo --paste-into deploy/demo --out DIR

Formats: inline (the self-contained tracker, optionally with --nonce), loader (a script element
for the tracker the collector serves, with its SRI hash), gtm (a Google Tag Manager Custom-HTML
tag).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from snippet.generator import render_gtm, render_inline, render_loader
from snippet.paste import paste_into_dir
from snippet.sites import SitesConfigError, load_sites

DEFAULT_COLLECTOR = "http://127.0.0.1:8601"
EXIT_USAGE = 2
FORMATS = ("inline", "loader", "gtm")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m snippet", description=__doc__.split("\n")[0])
    parser.add_argument("--sites", required=True, type=Path, help="the sites config (TOML)")
    parser.add_argument("--site", required=True, help="the site id, a [sites.<id>] table")
    parser.add_argument(
        "--collector",
        default=os.environ.get("MICROCV_COLLECTOR_URL", DEFAULT_COLLECTOR),
        help="the collector's base URL (default: $MICROCV_COLLECTOR_URL or %(default)s)",
    )
    parser.add_argument("--format", choices=FORMATS, default="inline", help="default: inline")
    parser.add_argument("--nonce", help="a CSP nonce for the inline <script> element")
    parser.add_argument(
        "--paste-into", type=Path, metavar="DIR_IN", help="pages whose tag block to re-render"
    )
    parser.add_argument("--out", type=Path, metavar="DIR_OUT", help="where the pages go")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if (args.paste_into is None) != (args.out is None):
        parser.error("--paste-into and --out go together")
    if args.nonce is not None and args.format != "inline":
        parser.error("--nonce goes with --format inline")
    try:
        site = load_sites(args.sites).get(args.site)
        if site is None:
            raise SitesConfigError(f"{args.sites}: no site {args.site!r} ([sites.{args.site}])")
        if args.format == "loader":
            tag = render_loader(site, args.collector)
        elif args.format == "gtm":
            tag = render_gtm(site, args.collector)
        else:
            tag = render_inline(site, args.collector, args.nonce)
        if args.paste_into is None:
            print(tag)
        else:
            pages = paste_into_dir(args.paste_into, args.out, tag)
            print(f"rendered the tag into {len(pages)} pages in {args.out}", file=sys.stderr)
    except (SitesConfigError, ValueError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    return 0


if __name__ == "__main__":
    sys.exit(main())
