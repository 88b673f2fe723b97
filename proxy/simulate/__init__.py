"""`python -m proxy.simulate`: the real balancer and ledger in virtual time (SPEC section 3)."""
