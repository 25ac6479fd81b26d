"""Pure code of the sensors app (no Django): MAC canonical form, batch planning."""
