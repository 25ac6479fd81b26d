"""Writes for reports, split by sub-domain: anomaly mails and unsubscribe links."""
