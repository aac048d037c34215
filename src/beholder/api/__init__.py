"""The api role: FastAPI app, routers, middleware and bus consumers."""
