"""The Stripe provider plugin: Stripe's checkout, customers, prices and signed webhooks."""
