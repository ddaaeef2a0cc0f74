"""``python -m simulator``: same as ``harvest-sync simulator``."""

from simulator.cli import simulator_command

if __name__ == "__main__":
    simulator_command()
