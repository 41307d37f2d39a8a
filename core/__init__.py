"""platform-payments' domain: records, the services that change them, and the plugin seams."""

__version__ = "0.1.0"
