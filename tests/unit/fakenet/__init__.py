"""Unit tests of aasee.hooks.fakenet (loopback addresses and free high ports only)."""
