"""Karton service that mines network indicators from DRAKVUF Sandbox captures."""

__version__ = "0.1.0"
