"""UWS 1.1, generic over job kinds: job model and store (phase changes by compare-and-set), the
HTTP resource tree and its XML, blocking WAIT, the dramatiq queue, duration and destruction limits.
"""
