"""Webhooks' outbound side: the delivery worker (``delivery.py``) and the connection guard that
keeps it off addresses an operator did not allow (``guard.py``). The rules live in
core/webhooks.py and service/webhooks.py; docs/webhooks.md is the receiver's guide."""
