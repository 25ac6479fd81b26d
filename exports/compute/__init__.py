"""Pure code of the exports app (no Django): CSV formatting."""
