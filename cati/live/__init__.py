"""The live rooms' data: a snapshot per campaign and view, its JSON and SSE feed (docs/live.md)."""
