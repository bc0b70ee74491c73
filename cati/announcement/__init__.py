"""The announcement of a closed campaign: the results sheet (JSON, page, PDF), the witnesses'
sign-off, and the public pre-announcement page of a published campaign (docs/announcement.md)."""
