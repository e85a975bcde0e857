"""Fitting media under an upload limit: probe, plan, encode, verify."""
