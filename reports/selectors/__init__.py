"""Reads of the reports app, one module per sub-domain: `reports` (due reports, a household's
reports and settings), `anomalies` (anomaly notifications due), `surveys` (survey invitations
due) and `digest` (the facts of the staff daily digest and its mails due)."""
