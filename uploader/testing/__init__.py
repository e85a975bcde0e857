"""A loopback Discord-compatible server for tests: ours, our benchmarks', and our users'."""
