"""Check the built HTML: every internal link, anchor and image resolves.

Run after the build: ``python docs/check_links.py docs/_build/html``. Sphinx's own
``linkcheck`` builder checks external URLs (network) and only reports local ones; this checks
what a reader clicks inside the site, offline, in about a second.
"""

from __future__ import annotations

import re
import sys
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit


class _Page(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.ids: set[str] = set()
        self.refs: list[tuple[str, str]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        for key in ("id", "name"):
            if a.get(key):
                self.ids.add(a[key] or "")
        if tag == "a" and a.get("href"):
            self.refs.append(("link", a["href"] or ""))
        if tag == "img" and a.get("src"):
            self.refs.append(("image", a["src"] or ""))


def check(site: Path) -> list[str]:
    """Problems found: ``page: kind target``, one per broken link, anchor or image."""
    pages: dict[Path, _Page] = {}
    for path in site.rglob("*.html"):
        parser = _Page()
        parser.feed(path.read_text(encoding="utf-8"))
        pages[path.resolve()] = parser
    problems = []
    for path, page in sorted(pages.items()):
        for kind, ref in page.refs:
            parts = urlsplit(ref)
            if parts.scheme or parts.netloc or ref.startswith(("mailto:", "data:")):
                continue  # external: not checked here
            target = (path.parent / unquote(parts.path)).resolve() if parts.path else path
            if not target.exists():
                problems.append(f"{path.relative_to(site.resolve())}: {kind} {ref}")
            elif parts.fragment and target.suffix == ".html":
                ids = pages[target].ids if target in pages else set()
                if unquote(parts.fragment) not in ids:
                    problems.append(f"{path.relative_to(site.resolve())}: anchor {ref}")
    if not pages or not any(re.search(r"index\.html$", str(p)) for p in pages):
        problems.append(f"{site}: no built pages")
    return problems


if __name__ == "__main__":
    site = Path(sys.argv[1] if len(sys.argv) > 1 else "docs/_build/html")
    found = check(site)
    print("\n".join(found) or f"internal links, anchors and images of {site}: all resolve")
    sys.exit(1 if found else 0)
