"""Checkout sessions: opened at a provider for a product's tenant, and refreshed from it."""
