"""``python -m simulator.net [--meter lv|hv] [--host 127.0.0.2] [--port 3610]``.

Runs one simulated meter on the network (see ``udp.py``) on the wall clock.
"""

from .udp import main

if __name__ == "__main__":
    main()
