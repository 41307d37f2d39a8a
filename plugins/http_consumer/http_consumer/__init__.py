"""The generic HTTP consumer plugin: a product that receives events needs configuration, not code."""
