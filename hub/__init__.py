"""cityhub's shared core: settings, schema, database access, domain types, registry.

Every other package may import ``hub``; ``hub`` imports none of them.
"""
