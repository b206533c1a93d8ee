"""AASEE contexts layer."""
