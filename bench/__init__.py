"""`make bench`: what the service exists for, measured against its own stack's ceiling."""
