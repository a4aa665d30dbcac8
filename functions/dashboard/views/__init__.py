"""The dashboard's views, one module per part of the site; pages.py registers them all.

Every page reads through mailbeacon.reporting with the signed-in user, so another user's message
is a 404 whichever URL is tried.
"""
