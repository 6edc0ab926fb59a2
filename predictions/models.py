"""Filled in by a later issue (see ../shared/DESIGN.md for what this app owns)."""
