"""Every generated page, by its path under ``docs/``."""

from __future__ import annotations

from tools.docsgen.api import api_pages
from tools.docsgen.cli import cli_page, project_parsers
from tools.docsgen.configuration import project_configuration_page
from tools.docsgen.exit_codes import project_exit_codes_page


def generated_pages() -> dict[str, str]:
    """Return ``{path under docs/: Markdown}`` of every generated reference page."""
    pages = {
        "reference/cli.md": cli_page(project_parsers()),
        "reference/exit-codes.md": project_exit_codes_page(),
        "reference/configuration.md": project_configuration_page(),
    }
    pages.update(api_pages())
    return pages
