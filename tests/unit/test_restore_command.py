"""The restore command ``up --backup`` names when a run fails: runnable, never a password (no server)."""

from __future__ import annotations

from analytiq_data.safety.backup_first import restore_command


def test_the_command_keeps_env_and_file_forms_and_redacts_a_literal_uri() -> None:
    assert restore_command("env:PROD_URI", "prod", "prod_backup_v3_20240601120000") == (
        "analytiq-db restore --uri env:PROD_URI --db prod --from prod_backup_v3_20240601120000 --yes"
    )
    said = restore_command("mongodb://app:s3cret@db1:27017/?authSource=admin", "prod", "bk", backup_uri="file:/run/b")
    assert "s3cret" not in said
    assert said == (
        "analytiq-db restore --uri 'mongodb://app:***@db1:27017/?authSource=admin' --db prod --from bk "
        "--from-uri file:/run/b --yes"
    )
