"""Authentication and authorization: passwords, JWTs, API keys, roles and principals."""
