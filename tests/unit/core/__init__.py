"""Unit tests of aasee.core."""
