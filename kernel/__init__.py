"""The shared kernel: domain errors, the clock and settings types, below every layer."""
