"""The CoAP adapter (RFC 7252, Observe RFC 7641, Block2 RFC 7959): the LRS T7470 paging dialect.

Layers, inside out: ``wire`` (bytes <-> Message), ``messages`` (sans-I/O message layer: MIDs,
deduplication, confirmable retransmission, ACK/RST), ``observe`` (sans-I/O observer registry:
notification queues, Observe sequence numbers, pings), ``site`` (routing and the dialect's
resources over the paging service), ``transport`` (the only code that owns a socket and timers).
"""
