"""The tamper-evident audit log every part of the product writes to: a hash chain of records
(`chain`) and signed checkpoints of its head with witness headers (`checkpoints`). It sits
just above storage: notices, the customer side and the web app append to it; it imports none
of them."""
