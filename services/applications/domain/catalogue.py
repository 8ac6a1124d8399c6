"""The catalogue is shared reference data now: services/contracts/catalogue.py. This name stays
only until the branches written beside the move (issue 17) have rebased onto it; import the
contract."""
from services.contracts.catalogue import *  # noqa: F401,F403
