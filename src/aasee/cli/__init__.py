"""AASEE cli layer."""
