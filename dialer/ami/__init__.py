"""Asterisk Manager Interface: a sans-I/O protocol layer, call-outcome tracking and an asyncio client."""
