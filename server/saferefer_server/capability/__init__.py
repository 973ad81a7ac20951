"""The node's capability document at `/.well-known/saferefer`."""
