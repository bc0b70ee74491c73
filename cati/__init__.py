"""CATI service: computer-assisted telephone interviewing for public-satisfaction surveys."""

__version__ = "0.1.0"
