"""The ``cityhub`` command line. Other packages add their commands through entry points."""
