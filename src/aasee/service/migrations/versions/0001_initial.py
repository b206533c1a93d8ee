"""Initial service schema: tasks, tokens, workers.

Revision ID: 0001
Revises:
Create Date: 2025-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def _utc() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "tasks",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("sha1", sa.String(40), nullable=False),
        sa.Column("md5", sa.String(32), nullable=False),
        sa.Column("filename", sa.String(255), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("options", sa.JSON(), nullable=False),
        sa.Column("options_key", sa.String(64), nullable=False),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("substatus", sa.String(200), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("progress", sa.Float(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("postprocess_attempts", sa.Integer(), nullable=False),
        sa.Column("worker", sa.String(200), nullable=True),
        sa.Column("run_id", sa.String(36), nullable=True),
        sa.Column("created", _utc(), nullable=False),
        sa.Column("started", _utc(), nullable=True),
        sa.Column("finished", _utc(), nullable=True),
        sa.Column("heartbeat", _utc(), nullable=True),
        sa.Column("enqueued", _utc(), nullable=True),
        sa.Column("verdict", sa.String(20), nullable=True),
        sa.Column("score", sa.Float(), nullable=True),
        sa.Column("artefacts", sa.JSON(), nullable=True),
    )
    for column in ("sha256", "sha1", "md5", "filename", "status", "created", "verdict"):
        op.create_index(f"ix_tasks_{column}", "tasks", [column])
    op.create_table(
        "tokens",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(100), nullable=False, unique=True),
        sa.Column("digest", sa.String(64), nullable=False, unique=True),
        sa.Column("created", _utc(), nullable=False),
        sa.Column("last_used", _utc(), nullable=True),
    )
    op.create_table(
        "workers",
        sa.Column("name", sa.String(200), primary_key=True),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("host", sa.String(255), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=False),
        sa.Column("task_id", sa.String(36), nullable=True),
        sa.Column("images", sa.JSON(), nullable=False),
        sa.Column("started", _utc(), nullable=False),
        sa.Column("seen", _utc(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("workers")
    op.drop_table("tokens")
    for column in ("sha256", "sha1", "md5", "filename", "status", "created", "verdict"):
        op.drop_index(f"ix_tasks_{column}", "tasks")
    op.drop_table("tasks")
