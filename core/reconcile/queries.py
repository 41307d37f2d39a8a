"""The sweep's SQL: ask (again) for an object to be re-read, as a `provider_reads` task.

One statement on both databases: a new task, or a finished one (`done`, `failed`) made due
again; a task still pending stays as it is, so asking twice asks once and a task another
worker holds under its lease is left to it.
"""

from __future__ import annotations

REARM_READ = """
INSERT INTO provider_reads
       (id, provider_key, kind, provider_object_id, status, due_at, attempts,
        created_at, updated_at)
VALUES ($1, $2, $3, $4, 'pending', $5, 0, $5, $5)
ON CONFLICT (provider_key, kind, provider_object_id) DO UPDATE
   SET status = 'pending', due_at = excluded.due_at, attempts = 0, last_error = NULL,
       lease_owner = NULL, lease_expires_at = NULL, updated_at = excluded.updated_at
 WHERE provider_reads.status <> 'pending'
"""
"""Values: (new id, provider key, kind, provider object id, now)."""
