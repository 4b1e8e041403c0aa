"""`from theanir.printing import debugprint, pp, pydotprint`: Theano's graph printers
(implemented in theanir.frontend.printing)."""
from theanir.frontend.printing import Print, debugprint, pp, pprint, pydotprint

__all__ = ["debugprint", "pp", "pprint", "pydotprint", "Print"]
