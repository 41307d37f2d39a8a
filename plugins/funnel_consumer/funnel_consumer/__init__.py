"""FunnelAI's consumer plugin: where FunnelAI's payment events go and how they are signed."""
