"""Rules, anomaly detection, forecasts, rollups and anonymised releases (issue to come)."""
