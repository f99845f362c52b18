"""Example federation policies shipped with borderlink (data only; load with importlib.resources)."""
