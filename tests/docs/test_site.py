"""The documentation site builds in strict mode (a broken link, a missing page or a generator error fails),
and the built pages fetch nothing from the network (no font service, no CDN)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from tests.docs.examples import ROOT

# A URL the browser would load as part of the page (not a link the reader may follow).
_EXTERNAL_ASSET = re.compile(r"""<(?:link|script|img|iframe)\b[^>]*\b(?:href|src)=["']?(?:https?:)?//""", re.I)


def test_the_site_builds_strictly_and_offline(tmp_path: Path) -> None:
    site = tmp_path / "site"
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    done = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert done.returncode == 0, f"mkdocs build --strict failed (run `make docs` to see it):\n{done.stderr}"
    pages = sorted(site.rglob("*.html"))
    for name in ("reference/cli/index.html", "reference/exit-codes/index.html", "reference/configuration/index.html"):
        assert site / name in pages, f"the generated page {name} is missing"
    loading = [str(p.relative_to(site)) for p in pages if _EXTERNAL_ASSET.search(p.read_text())]
    assert not loading, f"pages load assets from the network: {loading[:5]}"
