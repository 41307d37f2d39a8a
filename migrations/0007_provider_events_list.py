from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('models', '0006_managing')]

    initial = False

    operations = [
        ops.AddIndex(
            model_name='ProviderEvent',
            index=Index(fields=['received_at', 'id'], name='provider_events_received_idx'),
        ),
        ops.AddIndex(
            model_name='ProviderEvent',
            index=Index(fields=['type', 'received_at', 'id'], name='provider_events_type_idx'),
        ),
    ]
