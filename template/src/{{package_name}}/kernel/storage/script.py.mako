## Owned by the monocell template: `copier update` replaces this file.
"""${message}"""

import sqlalchemy as sa
from alembic import op

revision = "${up_revision}"
down_revision = ${'"%s"' % down_revision if down_revision else None}
branch_labels = None
depends_on = None


def upgrade() -> None:
    ${upgrades if upgrades else "pass"}


def downgrade() -> None:
    ${downgrades if downgrades else "pass"}
