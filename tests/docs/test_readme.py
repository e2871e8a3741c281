"""The README is the landing page: it opens with the two commands, stays short, and its links into docs/ lead
somewhere (the site's strict build checks the links inside docs/, not the README's)."""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path

from tests.docs.examples import README, ROOT

LANDING_PAGE_MAX_LINES = 220
_LINK = re.compile(r"\]\((?P<target>[^)\s]+)\)")
_HEADING = re.compile(r"^#{1,6}\s+(?P<title>.+?)\s*#*\s*$", re.M)


def slug(title: str) -> str:
    """Return the anchor Python-Markdown's toc gives a heading (its default slugify)."""
    text = re.sub(r"`|\*\*|\[|\]\([^)]*\)", "", title)
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    text = re.sub(r"[^\w\s-]", "", text).strip().lower()
    return re.sub(r"[-\s]+", "-", text)


def anchors(page: Path) -> set[str]:
    """Return the anchors of a page's headings (code blocks left out)."""
    text = re.sub(r"^```.*?^```", "", page.read_text(), flags=re.S | re.M)
    return {slug(m["title"]) for m in _HEADING.finditer(text)}


def test_the_readme_opens_with_make_demo_and_make_test() -> None:
    head = "\n".join(README.read_text().splitlines()[:40])
    assert "make demo" in head and "make test" in head


def test_the_readme_is_a_landing_page() -> None:
    lines = len(README.read_text().splitlines())
    assert lines <= LANDING_PAGE_MAX_LINES, f"README.md has {lines} lines: move sections into docs/ and link them"


def test_the_readmes_links_lead_to_pages_and_headings_that_exist() -> None:
    broken = []
    for match in _LINK.finditer(README.read_text()):
        target = match["target"]
        if re.match(r"^[a-z]+:", target):
            continue  # a URL
        path, _, anchor = target.partition("#")
        page = ROOT / path
        if path.startswith("docs/reference/") and not page.exists():
            generated = {"cli.md", "exit-codes.md", "configuration.md"}
            if page.name in generated or "python-api" in page.parts:
                continue  # generated on each build (tools/docsgen); test_site checks they are
        if not page.is_file():
            broken.append(target)
        elif anchor and anchor not in anchors(page):
            broken.append(target)
    assert not broken, f"README.md links to missing pages or headings: {broken}"


def test_slug_matches_the_sites_anchors() -> None:
    assert slug("Restore the backup: `restore --from`") == "restore-the-backup-restore-from"
    assert slug("How it works") == "how-it-works"


def test_the_readmes_figures_are_those_the_benchmarks_wrote() -> None:
    """Each number in the README's "How fast" table appears in the figures file its row links to: a
    benchmark run that changes a figure fails here until the README says the new one."""
    text = README.read_text()
    section = text[text.index("## How fast") : text.index("## Find your way")]
    rows = [line for line in section.splitlines() if line.startswith("| ") and "](docs/figures/" in line]
    assert len(rows) >= 5
    stale = []
    for row in rows:
        cells = [c.strip() for c in row.strip("|").split("|")]
        figures = (ROOT / _LINK.search(cells[2])["target"]).read_text()  # type: ignore[index]
        for number in re.findall(r"\d[\d,]*(?:\.\d+)?", cells[1]):
            if not re.search(rf"(?<![\d.,]){re.escape(number)}(?![\d,]|\.\d)", figures):
                stale.append(f"{number} ({cells[0]})")
    assert not stale, f"README.md's figures differ from docs/figures/: {stale}"
