"""Telephony side: RDD sample, AMI protocol and client, simulated PBX, pacing maths.

Knows nothing of the database or HTTP; ``cati`` wraps it.
"""
