"""The read side: purchases and subscriptions lists, and a tenant's plan status with its cache."""
