"""Every example of the documentation runs against the test servers (conventions: tests/docs/examples.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests import mongo_tools
from tests.docs.examples import ROOT, documentation_files
from tests.docs.runner import (
    PageState,
    close_clients,
    database_names,
    drop_new_databases,
    example_environment,
    forget_modules,
    needs_mongo_tools,
    run_page,
)


def _page_param(path: Path) -> object:
    marks = [pytest.mark.mongo_tools] if needs_mongo_tools(path) else []
    return pytest.param(path, id=str(path.relative_to(ROOT)), marks=marks)


@pytest.mark.parametrize("page", [_page_param(p) for p in documentation_files()])
async def test_page_examples_run(page: Path, mongo_uri: str, mongo_uri_2: str, db_name: str, tmp_path: Path) -> None:
    if needs_mongo_tools(page):
        mongo_tools.tools_dir()  # skips without them (a fresh clone), fails where they are required
    workdir, scratch = tmp_path / "work", tmp_path / "scratch"
    workdir.mkdir()
    scratch.mkdir()
    before = {uri: database_names(uri) for uri in (mongo_uri, mongo_uri_2)}
    state = PageState(workdir, example_environment(workdir, mongo_uri, mongo_uri_2, db_name), scratch)
    try:
        await run_page(page, state)
    finally:
        await close_clients(state.namespace)
        forget_modules(workdir)
        for uri, names in before.items():
            drop_new_databases(uri, names)
