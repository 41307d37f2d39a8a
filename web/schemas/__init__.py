"""Request and response schemas (pydantic), which also document `/openapi.json`."""
