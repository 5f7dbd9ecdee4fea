"""Click Event Count in Python: the app module componentize-py builds into a component.

componentize-py looks for the classes ``Plan`` and ``Operator`` here; :func:`weir_sdk.export`
makes them from the job.
"""

import weir_sdk

from .job import ClickEventCount

Plan, Operator = weir_sdk.export(ClickEventCount())
