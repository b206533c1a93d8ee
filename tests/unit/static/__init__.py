"""Unit tests of aasee.processing.static."""
