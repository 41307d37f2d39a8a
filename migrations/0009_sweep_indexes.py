from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('models', '0008_ops_gauges')]

    initial = False

    operations = [
        ops.AddIndex(
            model_name='CheckoutSession',
            index=Index(fields=['status', 'expires_at'], name='checkout_sessions_expiry_idx'),
        ),
        ops.AddIndex(
            model_name='Subscription',
            index=Index(fields=['status', 'current_period_end'], name='subscriptions_period_end_idx'),
        ),
    ]
