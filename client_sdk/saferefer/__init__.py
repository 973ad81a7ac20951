"""SafeRefer Python SDK: consent-based, minimal-data referrals through a SafeRefer node."""
