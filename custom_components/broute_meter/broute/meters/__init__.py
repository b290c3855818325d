"""Meter models: typed readings of ECHONET Lite meter classes over an ``EchonetClient``.

* ``low_voltage.py``: the low-voltage smart electric energy meter, class 0x0288;
* ``high_voltage.py``: the high-voltage smart electric energy meter, class 0x028A.
"""
