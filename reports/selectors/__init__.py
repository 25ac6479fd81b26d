"""Reads of the reports app, one module per sub-domain: `reports` (due reports, a household's
reports and settings), `anomalies` (anomaly notifications due) and `surveys` (survey invitations
due)."""
