"""Pure code of the reports app (no Django): the report charts."""
