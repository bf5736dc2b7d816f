"""`make bench`: bounded scenarios on loopback against the dev stack, measured against a raw loop."""
