"""Tests of devices/: the device contract, the vendor SDK, the vendor guide."""
