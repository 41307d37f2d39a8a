"""What an import did, row by row: counts per table and outcome, and every skipped row.

The tally is kept in the progress row after each batch, so a resumed run's closing
summary covers the whole import, and rendered both as the closing summary (text) and
as the `--report` file (JSON, the same facts).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any

from funnel_consumer.importer.rows import Problem
from funnel_consumer.importer.source import TABLES

OUTCOMES = ("created", "updated", "unchanged", "skipped")
NEWER_KEPT = "newerKept"
"""Rows counted as unchanged because the record holds newer provider data (a webhook's)."""


def _empty_counts() -> dict[str, dict[str, int]]:
    return {table: dict.fromkeys((*OUTCOMES, NEWER_KEPT), 0) for table in TABLES}


@dataclass
class Tally:
    tables: dict[str, dict[str, int]] = field(default_factory=_empty_counts)
    skipped: list[Problem] = field(default_factory=list)
    tenants: int = 0

    def add(self, table: str, outcome: str, *, newer_kept: bool = False) -> None:
        self.tables[table][outcome] += 1
        if newer_kept:
            self.tables[table][NEWER_KEPT] += 1

    def skip(self, found: Problem) -> None:
        self.add(found.table, "skipped")
        self.skipped.append(found)

    @property
    def rows(self) -> int:
        return sum(self.tables[table][outcome] for table in TABLES for outcome in OUTCOMES)

    def totals(self) -> dict[str, int]:
        return {
            name: sum(self.tables[table][name] for table in TABLES)
            for name in (*OUTCOMES, NEWER_KEPT)
        }

    def by_reason(self) -> dict[str, int]:
        return dict(sorted(Counter(p.reason for p in self.skipped).items()))

    def to_stats(self) -> dict[str, Any]:
        """The JSON kept in `ImportProgress.stats`."""
        return {
            "tables": self.tables,
            "skipped": [asdict(p) for p in self.skipped],
            "tenants": self.tenants,
        }

    @classmethod
    def from_stats(cls, stats: dict[str, Any]) -> Tally:
        tally = cls()
        for table, counts in (stats.get("tables") or {}).items():
            if table in tally.tables:
                tally.tables[table].update({k: int(v) for k, v in counts.items()})
        tally.skipped = [Problem(**p) for p in stats.get("skipped") or []]
        tally.tenants = int(stats.get("tenants") or 0)
        return tally


@dataclass(frozen=True)
class ImportReport:
    """The closing summary of one run (a resumed run includes the run it resumed)."""

    name: str
    source: str
    dry_run: bool
    emit_events: bool
    resumed_after: str | None
    started_at: str
    finished_at: str
    tally: Tally

    @property
    def failed(self) -> bool:
        return bool(self.tally.skipped)

    def to_json(self) -> dict[str, Any]:
        return {
            "import": self.name,
            "source": self.source,
            "dryRun": self.dry_run,
            "emitEvents": self.emit_events,
            "resumedAfterTenant": self.resumed_after,
            "startedAt": self.started_at,
            "finishedAt": self.finished_at,
            "tenants": self.tally.tenants,
            "totals": self.tally.totals(),
            "tables": self.tally.tables,
            "skippedByReason": self.tally.by_reason(),
            "skipped": [
                {
                    "table": p.table,
                    "id": p.legacy_id,
                    "tenantId": p.tenant_id,
                    "reason": p.reason,
                    "message": p.message,
                }
                for p in self.tally.skipped
            ],
        }

    def summary_lines(self) -> list[str]:
        verb = "would be " if self.dry_run else ""
        lines = []
        if self.dry_run:
            lines.append(
                "DRY RUN: nothing was written; these are the changes a real run would make."
            )
        lines.append(f"{self.name} import from {self.source}")
        if self.resumed_after is not None:
            lines.append(
                f"resumed after tenant {self.resumed_after!r}; counts include the interrupted run"
            )
        lines.append(f"tenants: {self.tally.tenants}")
        header = f"{'':<24}" + "".join(f"{name:>11}" for name in OUTCOMES)
        lines.append(header)
        for table in TABLES:
            counts = self.tally.tables[table]
            lines.append(f"{table:<24}" + "".join(f"{counts[n]:>11}" for n in OUTCOMES))
        totals = self.tally.totals()
        lines.append(f"{'total':<24}" + "".join(f"{totals[n]:>11}" for n in OUTCOMES))
        lines.append(
            f"created {verb}{totals['created']}, updated {verb}{totals['updated']}, "
            f"unchanged {totals['unchanged']} (of which {totals[NEWER_KEPT]} kept newer "
            f"webhook data), skipped {totals['skipped']}"
        )
        if self.tally.skipped:
            reasons = ", ".join(f"{r}: {n}" for r, n in self.tally.by_reason().items())
            lines.append(f"skipped by reason: {reasons}")
            for p in self.tally.skipped:
                lines.append(
                    f"  skipped {p.table} id={p.legacy_id} tenant={p.tenant_id}: "
                    f"{p.reason}: {p.message}"
                )
        return lines
