from tortoise import migrations
from tortoise.migrations import operations as ops
from orjson import loads
from tortoise.fields.data import JSON_DUMPS
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('models', '0002_checkout_provider_refs')]

    initial = False

    operations = [
        ops.CreateModel(
            name='ImportProgress',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('name', fields.CharField(max_length=64)),
                ('source', fields.CharField(max_length=128)),
                ('cursor', fields.CharField(null=True, max_length=255)),
                ('status', fields.CharField(max_length=16)),
                ('stats', fields.JSONField(default=dict, encoder=JSON_DUMPS, decoder=loads)),
                ('started_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('updated_at', fields.DatetimeField(auto_now=True, auto_now_add=False)),
                ('finished_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'import_progress', 'app': 'models', 'unique_together': (('name', 'source'),), 'pk_attr': 'id', 'table_description': 'How far an import (e.g. `funnel-billing`) got through one source database.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='SandboxObject',
            fields=[
                ('id', fields.CharField(primary_key=True, unique=True, db_index=True, max_length=64)),
                ('provider_key', fields.CharField(max_length=40)),
                ('kind', fields.CharField(max_length=32)),
                ('data', fields.JSONField(default=dict, encoder=JSON_DUMPS, decoder=loads)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('updated_at', fields.DatetimeField(auto_now=True, auto_now_add=False)),
            ],
            options={'table': 'sandbox_objects', 'app': 'models', 'indexes': [Index(fields=['provider_key', 'kind', 'created_at'], name='sandbox_objects_kind_idx')], 'pk_attr': 'id', 'table_description': 'A checkout session, subscription, payment or customer "at" the sandbox provider.'},
            bases=['Model'],
        ),
    ]
