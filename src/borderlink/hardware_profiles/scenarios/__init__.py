"""Shipped scenarios (a package only so that its files install)."""
