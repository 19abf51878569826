"""Every capability's tables on the one MetaData that Alembic and the tests compare and
truncate: importing this module registers them all."""

import inbox.accounts.models
import inbox.contacts.models
import inbox.conversations.models
import inbox.email.models
import inbox.events.models
import inbox.leads.models
import inbox.notifications.models
import inbox.outbox.models
import inbox.queues.models
import inbox.sms.models
import inbox.snippets.models
import inbox.tasks.models  # noqa: F401
from inbox.core.model import Base

__all__ = ["Base"]
