from tortoise import migrations
from tortoise.migrations import operations as ops
from core.models.provider_events import FilteredIndex
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
            index=FilteredIndex(fields=['waits_customer_id', 'provider_key'], name='provider_events_waits_customer_idx', where="status = 'deferred' AND waits_customer_id IS NOT NULL"),
        ),
        ops.AddIndex(
            model_name='ProviderEvent',
            index=FilteredIndex(fields=['waits_subscription_id', 'provider_key'], name='provider_events_waits_subscription_idx', where="status = 'deferred' AND waits_subscription_id IS NOT NULL"),
        ),
        ops.AddIndex(
            model_name='ProviderEvent',
            index=FilteredIndex(fields=['waits_payment_id', 'provider_key'], name='provider_events_waits_payment_idx', where="status = 'deferred' AND waits_payment_id IS NOT NULL"),
        ),
        ops.AddIndex(
            model_name='ProviderEvent',
            index=FilteredIndex(fields=['waits_checkout_session_id', 'provider_key'], name='provider_events_waits_checkout_session_idx', where="status = 'deferred' AND waits_checkout_session_id IS NOT NULL"),
        ),
    ]
