"""AASEE hooks layer."""
