"""The exports JSON API: the household CSV download, the experiment CSV and the research dataset
jobs."""
