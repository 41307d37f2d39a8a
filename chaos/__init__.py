"""`make chaos`: the two promises tested in the repository, under a storm (chaos/README.md)."""
