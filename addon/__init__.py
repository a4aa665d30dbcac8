"""The Workspace add-on on the HTTP runtime: event parsing, cards, request verification."""
