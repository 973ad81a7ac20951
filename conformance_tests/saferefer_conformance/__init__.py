"""SafeRefer conformance suite: proves a server over HTTP keeps the standard's promises."""
