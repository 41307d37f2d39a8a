"""The one storage layer: connections and their transactions, the SQL helpers every
subdomain's queries go through, records read and saved by hand, LISTEN, keyset pages and
stored Idempotency-Key answers."""
