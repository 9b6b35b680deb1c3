"""Each page's computation as a pure function of (data or store, filter, choices),
returning frozen results with ``to_dict()``; views, the command line and reports call it.

No Streamlit and no SQL here: data come through ``crlm.store``, statistics from
``crlm.stats``.
"""
