"""Decide whom to tell about a human open or click, and tell them in Slack, Chat or email."""
