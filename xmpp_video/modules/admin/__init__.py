"""Administration commands over XEP-0050: XEP-0133 user commands (users.py) and the call
commands (calls.py). Both register with the ad-hoc framework (modules/adhoc) through
``server.require(CommandRegistry)``, so ``AdhocModule`` is set up before them."""
