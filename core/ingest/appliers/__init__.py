"""Appliers: each turns one kind of provider fact into changes to our records and events.

Every applier runs inside the ingest's transaction (`ApplyContext.conn`), compares what
the fact says with what the record holds, writes only real changes, never moves a record
backwards, and emits a normalized event through the outbox for each change.
"""
