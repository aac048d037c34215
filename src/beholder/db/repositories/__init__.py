"""Repositories: the queries the api runs, one module per aggregate."""
