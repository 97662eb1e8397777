"""Setup and check code of the benches, run in a Django process by ``bench.harness.in_django``."""
