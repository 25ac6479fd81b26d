"""Writes for reports, split by sub-domain: reports (building), report_mails (the report mail and
its sending state), charts (PNG rendering), anomaly_mails, surveys (the daily survey routine),
unsubscribe (signed links), mails (what every mail shares) and retention (the daily clean-up of
every app)."""
