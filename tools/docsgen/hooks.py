"""MkDocs hook (named in ``mkdocs.yml``): add the generated reference pages to every build.

MkDocs loads this file by path, so the repository root is put on ``sys.path`` for ``tools.docsgen``.
A generator that cannot describe the code raises DocsGenError, which fails the build with its message.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from mkdocs.config.defaults import MkDocsConfig  # noqa: E402
from mkdocs.exceptions import PluginError  # noqa: E402
from mkdocs.structure.files import File, Files  # noqa: E402

from tools.docsgen import DocsGenError  # noqa: E402
from tools.docsgen.pages import generated_pages  # noqa: E402


def on_files(files: Files, config: MkDocsConfig, **_: Any) -> Files:
    """Add each generated page; a hand-written page at the same path is an error, not silently replaced."""
    try:
        pages = generated_pages()
    except DocsGenError as exc:
        raise PluginError(f"generated reference: {exc}") from exc
    for path, text in pages.items():
        if files.get_file_from_path(path) is not None:
            raise PluginError(f"docs/{path} is generated (tools/docsgen): remove the hand-written file")
        files.append(File.generated(config, path, content=text))
    return files
