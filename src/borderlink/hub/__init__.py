"""borderlink.hub — see docs/design.md's layout table for what this package holds."""
