from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('models', '0001_initial')]

    initial = False

    operations = [
        ops.AddField(
            model_name='CheckoutSession',
            name='provider_payment_id',
            field=fields.CharField(null=True, max_length=255),
        ),
        ops.AddField(
            model_name='CheckoutSession',
            name='provider_subscription_id',
            field=fields.CharField(null=True, max_length=255),
        ),
        ops.AddIndex(
            model_name='CheckoutSession',
            index=Index(fields=['provider_subscription_id'], name='checkout_sessions_subscription_idx'),
        ),
        ops.AddIndex(
            model_name='CheckoutSession',
            index=Index(fields=['provider_payment_id'], name='checkout_sessions_payment_idx'),
        ),
    ]
