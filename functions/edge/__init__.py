"""The local server's edge: one event loop in front of everything `mailbeacon serve` answers.

Connections, request lines, headers and bodies are read on the loop (uvicorn's httptools
protocol with a header deadline, ``protocol.py``), so a client that drips bytes or stalls
holds a socket and a few kilobytes, never a thread. The tracking routes (``/p/``, ``/c/``,
``/healthz``) are answered on the loop itself, and live streams are async handlers there too.
Everything else is the Flask app, run in bounded thread pools that answer 503 at once when
full (``pools.py``), with a pool of its own for expensive calls and one at a time per caller.
"""
