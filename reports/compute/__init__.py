"""Pure code of the reports app (no Django): the report charts, and numbers and dates written
in a mail language."""
