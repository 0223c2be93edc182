"""Example applications that run against the simulator."""
