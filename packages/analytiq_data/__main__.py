"""``python -m analytiq_data``: the same as the ``analytiq-db`` command."""

from analytiq_data.cli.main import console_main

console_main()
