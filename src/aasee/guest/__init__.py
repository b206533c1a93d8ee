"""AASEE guest layer."""
