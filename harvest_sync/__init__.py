"""harvest-sync: the command line that ties producers, consumers and the simulator together."""
