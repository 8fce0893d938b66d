"""Line integration: processes that turn the service's verdict stream into OPC UA and MQTT.

Each bridge is a client of the service's verdict PUB and query sockets (``source.VerdictStream``), keeps the
last seq it delivered in a cursor file (``cursor.Cursor``) and catches up from the journal after any
disconnect, so it can never stall inspection and never skips or repeats a verdict.
"""
