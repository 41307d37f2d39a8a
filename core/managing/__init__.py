"""Managing what was bought: what a tenant does after checkout, through its provider.

Each action asks the tenant's provider, then applies the provider's answer through the
webhook path (`core.ingest.observed.apply_read`): the answer shows the new state at once and
the provider's webhook that follows finds nothing left to change (`docs/managing.md`).
"""
