"""Memory profiles: the TOML files, the choice for a machine, the memory estimate, the downshift."""
