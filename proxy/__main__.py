"""`python -m proxy`: see `proxy.serve` (kept importable there, so workers can be spawned)."""

from proxy.serve import main

if __name__ == "__main__":
    main()
