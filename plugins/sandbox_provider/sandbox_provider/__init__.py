"""The sandbox provider: the whole payment flow on a fresh machine, with no provider account."""
