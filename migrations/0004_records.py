from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('models', '0003_imports_and_sandbox')]

    initial = False

    operations = [
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
