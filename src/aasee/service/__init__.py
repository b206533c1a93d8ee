"""AASEE service layer."""
