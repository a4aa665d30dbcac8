"""The edge: HTTP endpoints, Cloud Functions entry points, the local server and the CLI."""
