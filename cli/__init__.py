"""The click command-line interface: the only layer that prints or exits."""
