from tortoise import migrations
from tortoise.migrations import operations as ops
from uuid import uuid4
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('models', '0003_imports_and_sandbox')]

    initial = False

    operations = [
        ops.CreateModel(
            name='ProviderRead',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('provider_key', fields.CharField(max_length=40)),
                ('kind', fields.CharField(max_length=32)),
                ('provider_object_id', fields.CharField(max_length=255)),
                ('status', fields.CharField(default='pending', max_length=16)),
                ('due_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('attempts', fields.IntField(default=0)),
                ('last_error', fields.TextField(null=True, unique=False)),
                ('lease_owner', fields.CharField(null=True, max_length=128)),
                ('lease_expires_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('updated_at', fields.DatetimeField(auto_now=True, auto_now_add=False)),
            ],
            options={'table': 'provider_reads', 'app': 'models', 'unique_together': (('provider_key', 'kind', 'provider_object_id'),), 'indexes': [Index(fields=['status', 'due_at'], name='provider_reads_due_idx')], 'pk_attr': 'id', 'table_description': 'One object to read back from a provider and apply through the webhook path.'},
            bases=['Model'],
        ),
        ops.AddField(
            model_name='Subscription',
            name='past_due_since',
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
        # Subscriptions already past_due: the newest provider time applied to them is when they
        # were known to be past_due (the moment they became so is at or before it).
        ops.RunSQL(
            "UPDATE subscriptions SET past_due_since = COALESCE(provider_updated_at, updated_at)"
            " WHERE status = 'past_due' AND past_due_since IS NULL",
            reverse_sql="UPDATE subscriptions SET past_due_since = NULL",
        ),
    ]
