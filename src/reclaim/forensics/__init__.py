"""Forensic readers: what an image file itself declares about its origin."""
