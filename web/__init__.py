"""The HTTP face of platform-payments: a thin Quart app over the core services."""
