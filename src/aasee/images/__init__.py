"""AASEE images layer."""
