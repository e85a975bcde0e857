"""Progress reporters: terminal bars, a Discord status message, log lines."""
