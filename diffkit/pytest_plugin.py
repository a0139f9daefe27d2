"""pytest plugin of diffkit (registered as a pytest11 entry point); see diffkit.testing."""
