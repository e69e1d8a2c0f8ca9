"""Device side: simulators, load generation and the vendor SDK.

The vendor SDK (``sdk/``), ``mqttwire.py`` and ``loadgen.py`` import none of the server
packages, so a vendor can install them alone on a gateway; the simulator and the device
contract build on the hub's catalogue and settings.
"""
