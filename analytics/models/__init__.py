"""Anomaly detection: sensor faults, smart meters, welfare checks, and the store of trained models."""
