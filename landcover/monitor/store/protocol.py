"""The interface every job store offers (GeoPackage, PostGIS), and the checkpoint hook."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from rasterio.crs import CRS

from ..lifecycle import Alert
from .schema import RunWrite, Snapshot

__all__ = ["Checkpoint", "no_checkpoint", "Store"]

#: Called with a point's name (``classified-N``, ``before-commit``, ``after-commit``)
#: as a run passes it; tests inject one that raises or kills the process there.
Checkpoint = Callable[[str], None]


def no_checkpoint(name: str) -> None:
    """The default :data:`Checkpoint`: does nothing."""


class Store(Protocol):
    """A job's store (swap GeoPackage for PostGIS through ``monitor.store``).

    Attributes
    ----------
    url
        Where the store is, for messages (a PostgreSQL password is masked).
    """

    url: str

    def exists(self) -> bool:
        """Whether the store has been created (``monitor init``)."""
        ...

    def create(self, meta: dict[str, Any], crs: CRS, types: Sequence[str]) -> None:
        """Create the tables of a job tracking change ``types`` on a grid in ``crs``."""
        ...

    def lock(self) -> contextlib.AbstractContextManager:
        """A context holding the job's lock.

        Raises
        ------
        StoreLockedError
            Another run holds it.
        """
        ...

    def load(self, *, state: bool = True) -> Snapshot:
        """Read everything a run needs (the pixel state only when ``state``)."""
        ...

    def commit(self, write: RunWrite, *, checkpoint: Checkpoint | None = None) -> None:
        """Write one run in one transaction (see :func:`.commit.commit_run`).

        ``checkpoint("before-commit")`` is called inside the transaction, last.
        """
        ...

    def read_alerts(self, *, run_id: str | None = None, new_only: bool = False
                    ) -> list[tuple[Alert, str]]:
        """All alerts (events ``""``), or with ``new_only`` the ``alerts_new`` layer."""
        ...

    def migrate(self, *, checkpoint: Checkpoint | None = None) -> int | None:
        """Bring an older store to the current layout in place, in one transaction
        (:func:`.migrate.migrate_store`); the version it had, or None when current."""
        ...

    def read_events(self, *, after: int) -> list[dict[str, Any]]:
        """``alert_events`` rows (``seq`` and :data:`.schema.EVENT_COLUMNS`) after ``after``."""
        ...

    def consumer_seq(self, name: str) -> int:
        """The last event ``seq`` consumer ``name`` acknowledged (0: none yet)."""
        ...

    def last_event_seq(self) -> int:
        """The highest event ``seq`` (0 when the log is empty)."""
        ...

    def ack(self, name: str, seq: int, at: str) -> int:
        """Advance consumer ``name`` to ``seq`` (never back); its ``seq`` after."""
        ...

    def apply_default_styles(self) -> None:
        """Store QGIS default layer styles where the format keeps them (else nothing)."""
        ...
