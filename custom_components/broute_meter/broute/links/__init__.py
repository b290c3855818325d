"""Links: what carries ECHONET Lite datagrams to one meter (see ``..link.Link``).

* ``wisun.py``: what every Wi-SUN dongle link shares (where the meter is, the driver
  interface a dongle firmware implements, the repair ladder);
* ``skstack.py``: dongles with SKSTACK-IP text firmware;
* ``j11.py``: dongles with ROHM's binary J11 firmware;
* ``udp.py``: meters on the network (Wi-Fi B-route, high-voltage terminals).

A new medium goes here as one more :class:`~..link.Link` subclass.
"""
