"""The mirror as staff browse it: read-only pages over the Stripe objects Lumen keeps.

Nobody adds, changes or deletes a mirrored object here (the sync is the only writer); staff
with a model's view permission can look. Every row and page opens the object in Stripe's
dashboard. A list page runs the same number of queries whatever its length: the customer
shown beside a charge comes from a subquery, links to other mirrored objects go through
`by-id/<connection>/<stripe id>/` (resolved when clicked), and the raw object, the big part
of a row, is not read for lists.

base holds what every page shares, display and links how values and links show; the pages
themselves are by domain: customers, payments, billing and funds. Importing this package
registers them all.
"""

from connectors.admin.mirror import billing, customers, funds, payments
from connectors.admin.mirror.links import dashboard_url_of

__all__ = ["billing", "customers", "dashboard_url_of", "funds", "payments"]
