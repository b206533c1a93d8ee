"""AASEE: automated malware sandbox."""

__version__ = "0.1.0"
