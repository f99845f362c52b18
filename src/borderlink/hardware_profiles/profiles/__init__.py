"""Shipped profiles of the hardware profiles (a package only so that its files install)."""
