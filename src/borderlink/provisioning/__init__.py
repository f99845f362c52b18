"""borderlink.provisioning — see docs/design.md's layout table for what this package holds."""
