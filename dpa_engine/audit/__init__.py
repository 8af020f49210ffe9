"""The tamper-evident audit log every part of the product writes to: a hash chain of records
(`chain`), signed checkpoints of its head with witness headers (`checkpoints`), and what the
log proves about the tables it speaks of (`crosscheck`: stored notices, deadlines, statuses). It sits
just above storage: notices, the customer side and the web app append to it; it imports none
of them."""
