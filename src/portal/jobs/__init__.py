"""Jobs: the state machine, the service that alone changes job state, and the API."""
