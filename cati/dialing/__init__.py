"""The dialing loop: pacing, case hand-out, AMI originates and call-to-interviewer assignment."""
