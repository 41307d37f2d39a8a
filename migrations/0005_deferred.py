from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields
from tortoise.indexes import PartialIndex

class Migration(migrations.Migration):
    dependencies = [('models', '0004_records')]

    initial = False

    operations = [
        ops.AddField(
            model_name='ProviderEvent',
            name='waits_checkout_session_id',
            field=fields.CharField(null=True, max_length=255),
        ),
        ops.AddField(
            model_name='ProviderEvent',
            name='waits_customer_id',
            field=fields.CharField(null=True, max_length=255),
        ),
        ops.AddField(
            model_name='ProviderEvent',
            name='waits_payment_id',
            field=fields.CharField(null=True, max_length=255),
        ),
        ops.AddField(
            model_name='ProviderEvent',
            name='waits_subscription_id',
            field=fields.CharField(null=True, max_length=255),
        ),
        ops.AddIndex(
            model_name='ProviderEvent',
            index=PartialIndex(fields=['received_at', 'id'], name='provider_events_deferred_idx', condition={'status': 'deferred'}),
        ),
        ops.AddIndex(
            model_name='ProviderEvent',
            index=PartialIndex(fields=['provider_key', 'waits_customer_id'], name='provider_events_waits_customer_idx', condition={'status': 'deferred'}),
        ),
        ops.AddIndex(
            model_name='ProviderEvent',
            index=PartialIndex(fields=['provider_key', 'waits_subscription_id'], name='provider_events_waits_subscription_idx', condition={'status': 'deferred'}),
        ),
        ops.AddIndex(
            model_name='ProviderEvent',
            index=PartialIndex(fields=['provider_key', 'waits_payment_id'], name='provider_events_waits_payment_idx', condition={'status': 'deferred'}),
        ),
        ops.AddIndex(
            model_name='ProviderEvent',
            index=PartialIndex(fields=['provider_key', 'waits_checkout_session_id'], name='provider_events_waits_checkout_session_idx', condition={'status': 'deferred'}),
        ),
    ]
