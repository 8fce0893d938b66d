"""The operator dashboard: a read-only web page of one station, fed by the service's verdict stream."""
