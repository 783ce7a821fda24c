"""AutoGen teams: declarative presets, the per-session builder, and the turn runner."""
