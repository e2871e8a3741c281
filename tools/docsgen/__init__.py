"""The documentation site's generated reference pages, built from the code so they cannot drift.

Generated at build time, never committed: ``hooks.py`` (an MkDocs hook named in ``mkdocs.yml``) adds
every page of ``pages.generated_pages()`` to the site on each ``mkdocs build``. Chosen over
committed-and-checked files because nothing generated is in git, so nothing can be stale, and
parallel branches that each add a flag or an exit code never conflict on a generated file; the
strict build in ``make test`` fails when a generator cannot describe something (an exit code
without a meaning, an environment variable read but not documented).

- ``cli``: every command and flag of ``analytiq-db`` and ``backup-db``, from their argparse parsers;
- ``api``: the Python API, one page per public module, from ``__all__`` (rendered by mkdocstrings);
- ``exit_codes``: ``analytiq_data.errors.ExitCode``, with each member's comment and the errors raising it;
- ``configuration``: ``[tool.analytiq-db]`` keys (``settings.KEYS``) and the environment variables read.
"""


class DocsGenError(Exception):
    """The code lacks what a reference page needs (e.g. an exit code without a meaning); the message says the fix."""
