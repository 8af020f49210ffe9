"""The customer's side: signed links, the notice page, the public list page, subscriptions
and the confirmation e-mails.

Depends on `dpa_engine.notices` (the change-notice workflow), never the other way round.
"""
