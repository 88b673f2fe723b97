"""The proxy: the public charge endpoint and the balancer in front of the substations."""
