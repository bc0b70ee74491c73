"""The verification kit of a closed campaign (docs/verify.md); checked by ``cati verify``."""
