"""Provider webhooks in: verified, stored once, turned into facts and applied to our records
with the normalized events they cause, in one transaction; deferred events and reads from
the provider that a webhook named but did not carry."""
