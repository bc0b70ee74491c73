"""`cati demo`: simulated interviewers and respondents that run a whole survey through the API."""
