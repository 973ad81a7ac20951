"""Authentication: the node's signing keys, the OAuth2 token endpoint (client_credentials with
private_key_jwt) and bearer-token verification."""
