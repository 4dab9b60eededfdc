"""One module per sub-command; each defines `register(subparsers)` and is found automatically."""
