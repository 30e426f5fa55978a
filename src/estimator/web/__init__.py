"""The agency staff's web pages, served by the HTTP service beside its API."""
