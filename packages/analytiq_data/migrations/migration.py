"""Analytiq's migrations, in order: version N is the N-th entry of ``MIGRATIONS``.

One class per change. Append new migrations at the end (``analytiq-db new "description"`` does);
never insert or reorder: versions are positions.
"""

from __future__ import annotations

import logging

from analytiq_data.migrations.base import Migration

logger = logging.getLogger(__name__)

MIGRATIONS: list[Migration] = []
