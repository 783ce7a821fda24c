"""The gateway benchmark suite: see ``scripts/bench.py`` and ``docs/performance.md``."""
