"""Channel adapters. Each imports its SDK lazily and translates vendor errors to DeliveryFailed."""
