"""The supervisor room's controls: pause/resume dialling, close/reopen quota cells, log out a seat,
switch the pacing mode (docs/supervise.md)."""
