"""Cases: sample release, the case state machine and the scheduling service."""
