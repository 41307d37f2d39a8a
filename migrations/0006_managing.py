from tortoise import migrations
from tortoise.migrations import operations as ops
from uuid import uuid4
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('models', '0005_deferred')]

    initial = False

    operations = [
        ops.CreateModel(
            name='Dispute',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('provider_key', fields.CharField(max_length=40)),
                ('provider_dispute_id', fields.CharField(max_length=255)),
                ('provider_payment_id', fields.CharField(null=True, max_length=255)),
                ('purchase_id', fields.UUIDField(null=True)),
                ('subscription_id', fields.UUIDField(null=True)),
                ('consumer_key', fields.CharField(max_length=64)),
                ('consumer_tenant_id', fields.CharField(max_length=255)),
                ('amount', fields.BigIntField()),
                ('currency', fields.CharField(max_length=3)),
                ('reason', fields.CharField(null=True, max_length=64)),
                ('status', fields.CharField(max_length=24)),
                ('provider_updated_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('updated_at', fields.DatetimeField(auto_now=True, auto_now_add=False)),
            ],
            options={'table': 'disputes', 'app': 'models', 'unique_together': (('provider_key', 'provider_dispute_id'),), 'indexes': [Index(fields=['created_at', 'id'], name='disputes_created_idx'), Index(fields=['consumer_tenant_id', 'consumer_key', 'created_at'], name='disputes_tenant_idx'), Index(fields=['status', 'created_at'], name='disputes_status_idx')], 'pk_attr': 'id', 'table_description': "A chargeback of one payment: a one-time purchase's, or a subscription invoice's."},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Invoice',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('provider_key', fields.CharField(max_length=40)),
                ('provider_invoice_id', fields.CharField(max_length=255)),
                ('provider_subscription_id', fields.CharField(null=True, max_length=255)),
                ('provider_payment_id', fields.CharField(null=True, max_length=255)),
                ('subscription_id', fields.UUIDField(null=True)),
                ('consumer_key', fields.CharField(max_length=64)),
                ('consumer_tenant_id', fields.CharField(max_length=255)),
                ('number', fields.CharField(null=True, max_length=255)),
                ('status', fields.CharField(max_length=24)),
                ('amount_due', fields.BigIntField(default=0)),
                ('amount_paid', fields.BigIntField(default=0)),
                ('currency', fields.CharField(max_length=3)),
                ('period_start', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('period_end', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('hosted_invoice_url', fields.TextField(null=True, unique=False)),
                ('invoice_pdf_url', fields.TextField(null=True, unique=False)),
                ('provider_updated_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('updated_at', fields.DatetimeField(auto_now=True, auto_now_add=False)),
            ],
            options={'table': 'invoices', 'app': 'models', 'unique_together': (('provider_key', 'provider_invoice_id'),), 'indexes': [Index(fields=['created_at', 'id'], name='invoices_created_idx'), Index(fields=['consumer_tenant_id', 'consumer_key', 'created_at'], name='invoices_tenant_idx'), Index(fields=['subscription_id', 'created_at'], name='invoices_subscription_idx'), Index(fields=['provider_payment_id', 'provider_key'], name='invoices_payment_idx')], 'pk_attr': 'id', 'table_description': "A provider's invoice of one tenant (most often a subscription's), kept from its"},
            bases=['Model'],
        ),
        ops.AddField(
            model_name='Purchase',
            name='dispute_status',
            field=fields.CharField(null=True, max_length=24),
        ),
    ]
