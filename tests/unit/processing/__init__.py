"""Unit tests of aasee.processing."""
