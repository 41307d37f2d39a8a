from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('models', '0007_provider_events_list')]

    initial = False

    operations = [
        ops.AddIndex(
            model_name='EventDelivery',
            index=Index(fields=['status', 'consumer_key'], name='event_deliveries_status_consumer_idx'),
        ),
        ops.AddIndex(
            model_name='EventDelivery',
            index=Index(fields=['status', 'created_at'], name='event_deliveries_status_created_idx'),
        ),
    ]
