"""B-route client: SKSTACK-IP Wi-SUN dongles and ECHONET Lite smart meters.

asyncio only and free of Home Assistant imports, so it can be used (and published)
on its own.
"""
