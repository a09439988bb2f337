"""Initial schema: agents, enrollment tokens, bundles, records, hosts, findings, log.

Revision ID: 0001
Revises:
Create Date: 2026-11-25
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

IMMUTABLE_TABLES = ("bundles", "records", "log_entries")


def ts(name: str, nullable: bool = False) -> sa.Column:
    return sa.Column(name, sa.String(32), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "enrollment_tokens",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("token_sha256", sa.String(64), nullable=False, unique=True),
        ts("created_at"),
        ts("expires_at"),
        sa.Column("max_uses", sa.Integer, nullable=False),
        sa.Column("uses", sa.Integer, nullable=False),
    )
    op.create_table(
        "agents",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("keyid", sa.String(64), nullable=False, unique=True),
        sa.Column("public_key", sa.String(64), nullable=False),
        sa.Column("hostname", sa.String(255), nullable=False),
        sa.Column("machine_id", sa.String(128)),
        ts("enrolled_at"),
        sa.Column("token_id", sa.String(32), sa.ForeignKey("enrollment_tokens.id"), nullable=False),
        ts("revoked_at", nullable=True),
        sa.Column("revoked_reason", sa.Text),
    )
    op.create_table(
        "bundles",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column(
            "agent_id", sa.String(64), sa.ForeignKey("agents.id"), nullable=False, index=True
        ),
        sa.Column("host_id", sa.String(128), nullable=False, index=True),
        sa.Column("seq", sa.Integer, nullable=False),
        sa.Column("prev", sa.String(64)),
        ts("created_at"),
        ts("received_at"),
        sa.Column("size", sa.Integer, nullable=False),
        sa.Column("log_index", sa.Integer, nullable=False, unique=True),
        sa.Column("receipt", sa.Text, nullable=False),
        sa.UniqueConstraint("agent_id", "host_id", "seq", name="uq_bundles_chain_seq"),
    )
    op.create_table(
        "records",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column(
            "bundle_id", sa.String(64), sa.ForeignKey("bundles.id"), nullable=False, index=True
        ),
        sa.Column("idx", sa.Integer, nullable=False),
        sa.Column("host_id", sa.String(128), nullable=False, index=True),
        sa.Column("collector", sa.String(128), nullable=False, index=True),
        sa.Column("collector_version", sa.String(32), nullable=False),
        sa.Column("category", sa.String(32), nullable=False),
        ts("collected_at"),
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("facts", sa.Text, nullable=False),
        sa.Column("errors", sa.Text, nullable=False),
        sa.UniqueConstraint("bundle_id", "idx", name="uq_records_bundle_idx"),
    )
    op.create_table(
        "hosts",
        sa.Column("id", sa.String(128), primary_key=True),
        sa.Column("hostname", sa.String(255), nullable=False),
        sa.Column("machine_id", sa.String(128)),
        sa.Column("first_agent_id", sa.String(64), sa.ForeignKey("agents.id"), nullable=False),
        ts("first_seen"),
        ts("last_seen"),
    )
    op.create_table(
        "findings",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        ts("created_at"),
        sa.Column("kind", sa.String(32), nullable=False, index=True),
        sa.Column("agent_id", sa.String(64)),
        sa.Column("host_id", sa.String(128)),
        sa.Column("detail", sa.Text, nullable=False),
    )
    op.create_table(
        "log_entries",
        sa.Column("idx", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("ref", sa.String(64), nullable=False, unique=True),
        ts("appended_at"),
    )
    install_immutability_triggers()


def install_immutability_triggers() -> None:
    """Evidence is never updated or deleted, whatever code path tries."""
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        for table in IMMUTABLE_TABLES:
            for action in ("UPDATE", "DELETE"):
                op.execute(
                    f"CREATE TRIGGER {table}_no_{action.lower()} BEFORE {action} ON {table} "
                    f"BEGIN SELECT RAISE(ABORT, 'evidence is immutable: {action} on {table}'); END"
                )
    elif dialect == "postgresql":
        op.execute(
            "CREATE FUNCTION dossier_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$ "
            "BEGIN RAISE EXCEPTION 'evidence is immutable: % on %', TG_OP, TG_TABLE_NAME; END $$"
        )
        for table in IMMUTABLE_TABLES:
            op.execute(
                f"CREATE TRIGGER {table}_immutable BEFORE UPDATE OR DELETE ON {table} "
                "FOR EACH ROW EXECUTE FUNCTION dossier_refuse_change()"
            )
    else:
        raise RuntimeError(f"unsupported database dialect {dialect}")


def downgrade() -> None:
    raise RuntimeError("the evidence schema is not downgraded; restore from backup instead")
