"""Tasks get an integer number (for the Cuckoo/CAPE-compatible API), allocated from a table
that keeps every number ever given, so none is reused after a task is deleted.

Existing tasks are numbered in the order they were submitted.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "task_numbers",
        sa.Column("number", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("task_id", sa.String(36), nullable=False, unique=True),
        sqlite_autoincrement=True,
    )
    op.add_column("tasks", sa.Column("number", sa.Integer(), nullable=True))
    op.execute("INSERT INTO task_numbers (task_id) SELECT id FROM tasks ORDER BY created, id")
    op.execute(
        "UPDATE tasks SET number = "
        "(SELECT number FROM task_numbers WHERE task_numbers.task_id = tasks.id)"
    )
    op.create_index("ix_tasks_number", "tasks", ["number"], unique=True)


def downgrade() -> None:
    op.drop_index("ix_tasks_number", "tasks")
    with op.batch_alter_table("tasks") as batch:
        batch.drop_column("number")
    op.drop_table("task_numbers")
