"""The billing read side's SQL: plan status in one statement.

Subscriptions and paid purchases of the tenant, each joined to its pricing item, over the
`subscriptions_tenant_idx` and `purchases_tenant_idx` indexes. Placeholders follow
`core.store.dialect`'s one scheme (`$n`; SQLite reads `?n`); the tenant (and the consumer
key, when narrowed) is bound once per half of the UNION.
"""

from __future__ import annotations

_PLAN_STATUS_ROWS = """
SELECT 's' AS kind, s.id, s.consumer_key, s.pricing_item_code AS code, s.status,
       s.current_period_end AS period_end,
       s.cancel_at_period_end, s.trial_end, s.past_due_since, s.created_at, NULL AS paid_at,
       i.name AS item_name, i.kind AS item_kind, i.billing_interval AS item_interval,
       i.features AS item_features
  FROM subscriptions s LEFT JOIN pricing_items i ON i.code = s.pricing_item_code
 WHERE s.consumer_tenant_id = $1 {narrow_s}
UNION ALL
SELECT 'p', p.id, p.consumer_key, p.pricing_item_code, p.status, NULL, NULL, NULL, NULL,
       p.created_at, p.paid_at, i.name, i.kind, i.billing_interval, i.features
  FROM purchases p LEFT JOIN pricing_items i ON i.code = p.pricing_item_code
 WHERE p.consumer_tenant_id = {tenant_p} {narrow_p} AND p.status IN ('paid', 'partially_refunded')
   AND (p.dispute_status IS NULL OR p.dispute_status <> 'lost')
"""

PLAN_STATUS_ROWS = _PLAN_STATUS_ROWS.format(narrow_s="", tenant_p="$2", narrow_p="")
"""A tenant's rows: values (tenant, tenant)."""
PLAN_STATUS_ROWS_OF_CONSUMER = _PLAN_STATUS_ROWS.format(
    narrow_s="AND s.consumer_key = $2", tenant_p="$3", narrow_p="AND p.consumer_key = $4"
)
"""A tenant's rows with one consumer: values (tenant, key, tenant, key)."""
