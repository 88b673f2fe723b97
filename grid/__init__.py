"""What both services speak: the charge protocol, the error tree, the HTTP helpers and `serve()`,
and the session ledger (the admission rule every substation runs, real or simulated).

`proxy/` and `substation/` import from here and never from each other (import-linter keeps it so).
"""
