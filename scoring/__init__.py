"""Scores, AAPOR outcome rates and statistics, vectorised with numpy. Pure: no I/O."""
