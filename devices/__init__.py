"""Device side: simulators, load generation and the vendor SDK.

Nothing here imports the server packages: a vendor installs it alone on a gateway.
"""
