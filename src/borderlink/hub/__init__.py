"""borderlink.hub — see DESIGN.md's layout table for what this package holds."""
