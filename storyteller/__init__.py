"""Storyteller: an offline studio for safe digital storytelling workshops."""

__version__ = "0.1.0"
