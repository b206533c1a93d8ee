"""AASEE processing layer."""
