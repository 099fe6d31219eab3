"""Fillers for development and benchmarks, not business rules: the demo organization (`flask seed-demo`, the
browser tests, bench/) and bulk data (`flask seed-load`). The running portal never imports them."""
