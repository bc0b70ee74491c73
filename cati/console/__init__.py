"""Interviewer console: seats, the case in hand, the interview saved answer by answer."""
