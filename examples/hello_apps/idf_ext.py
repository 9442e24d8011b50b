# `idf.py -p PORT dynapps-flash`: write only the app slots that changed (the dynapps package).
from dynapps.idf_ext import action_extensions  # noqa: F401  (idf.py looks this name up)
