"""SafeRefer reference server: a national node of the SafeRefer referral mechanism."""
