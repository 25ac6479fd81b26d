"""Writes for reports, split by sub-domain: reports (building), outbox (the one send-and-record
of every mail: docs/operations.md, "Mail outbox"), report_mails (the report mail), anomaly_mails,
surveys (the daily survey routine and its invitations), staff_digest (the staff daily digest
to the support group), unsubscribe (signed links), mails (what
every mail shares in its wording), errors (what crosses into the tasks) and retention (the daily
clean-up of every app)."""
