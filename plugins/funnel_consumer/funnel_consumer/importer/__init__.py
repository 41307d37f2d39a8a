"""FunnelAI's one-time legacy billing import (`payments import funnel-billing`).

`source` reads the legacy tables in tenant batches, `rows` checks and maps each row to
provider-neutral facts, `writer` applies one tenant's rows through the core's ingest,
`run` drives batches with progress and resume, `tally` counts and reports, `display`
draws the progress bar, `command` is the click command. The runbook is docs/backfill.md.
"""
