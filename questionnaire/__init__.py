"""Instrument format and interview engine. Pure: no I/O beyond loading an instrument file."""
