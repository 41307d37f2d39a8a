"""Pricing items: what can be bought, for how much, and each provider's price references."""
