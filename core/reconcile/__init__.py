"""Truth: local state equal to the provider's, repaired when webhooks were lost.

`payments reconcile` and the tenant route re-read what we know from its provider and apply
what differs through the webhook path (`run.py`); the sweep re-reads by itself what must
have moved by now (`sweep.py`). `docs/truth.md` says what is read, how often, and at what
cost in provider calls.
"""
