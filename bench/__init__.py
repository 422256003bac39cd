"""Load benchmark: mock upstream, load generator, runner and report (see bench/README.md)."""
