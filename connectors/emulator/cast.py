"""Who and what the seeded account is made of: Brightwave Analytics' catalog, its tax rates
and its named customers. seed.py tells their stories; volume.py adds many more customers."""

# fmt: off
PRODUCTS = (  # key, name, description, unit label
    ("starter", "Starter plan", "Dashboards and alerts for teams of up to 5", None),
    ("pro", "Pro plan", "Unlimited dashboards, SSO and audit history", "seat"),
    ("enterprise", "Enterprise plan", "Dedicated support, custom retention and SLAs", None),
    ("onboarding", "Onboarding package", "Guided setup and data import, one time", None),
    ("support", "Priority support", "A named engineer and a one-hour response time", "seat"),
    ("pipelines", "Managed pipelines", "Hosted data pipelines, billed by the week", "pipeline"),
)
PRICES = (  # key, product, currency, unit amount, interval, interval count, usage type, active
    ("starter_legacy", "starter", "usd", 1900, "month", 1, "licensed", False),
    ("starter_monthly", "starter", "usd", 2900, "month", 1, "licensed", True),
    ("starter_quarterly", "starter", "usd", 7900, "month", 3, "licensed", True),
    ("starter_annual", "starter", "usd", 29000, "year", 1, "licensed", True),
    ("pro_monthly", "pro", "usd", 9900, "month", 1, "licensed", True),
    ("pro_annual", "pro", "usd", 99000, "year", 1, "licensed", True),
    ("pro_monthly_eur", "pro", "eur", 9200, "month", 1, "licensed", True),
    ("pro_monthly_jpy", "pro", "jpy", 15000, "month", 1, "licensed", True),
    ("enterprise_monthly", "enterprise", "usd", 49900, "month", 1, "licensed", True),
    ("enterprise_overage", "enterprise", "usd", 50, "month", 1, "metered", True),
    ("support_monthly", "support", "usd", 19900, "month", 1, "licensed", True),
    ("pipelines_weekly", "pipelines", "usd", 4900, "week", 1, "licensed", True),
    ("onboarding", "onboarding", "usd", 150000, None, 1, None, True),
)
DEFAULT_PRICES = {
    "starter": "starter_monthly",
    "pro": "pro_monthly",
    "enterprise": "enterprise_monthly",
    "onboarding": "onboarding",
    "support": "support_monthly",
    "pipelines": "pipelines_weekly",
}
TAX_RATES = (  # key, display name, percentage, country, state, description
    ("tx", "Sales Tax", 8.25, "US", "TX", "Texas state and local sales tax"),
    ("pa", "Sales Tax", 6.0, "US", "PA", "Pennsylvania sales tax"),
    ("wa", "Sales Tax", 10.25, "US", "WA", "Washington retail sales tax"),
)
CUSTOMERS = (  # key (their email domain), name, country, city, currency, card brand, days since
    ("kestrel", "Kestrel Labs", "US", "San Francisco", "usd", "visa", 450),
    ("harbor", "Harbor & Pine Design", "US", "Portland", "usd", "mastercard", 425),
    ("nordlicht", "Nordlicht GmbH", "DE", "Berlin", "eur", "visa", 400),
    ("sakura", "Sakura Digital KK", "JP", "Tokyo", "jpy", "jcb", 375),
    ("bluemesa", "Blue Mesa Logistics", "US", "Phoenix", "usd", "amex", 350),
    ("copperline", "Copperline Studios", "US", "Austin", "usd", "visa", 325),
    ("fieldstone", "Fieldstone Clinics", "US", "Denver", "usd", "mastercard", 300),
    ("orbital", "Orbital Coffee Co.", "US", "Seattle", "usd", "visa", 275),
    ("quillmark", "Quillmark Legal", "US", "Boston", "usd", "amex", 250),
    ("tidewater", "Tidewater Analytics", "US", "Charleston", "usd", "discover", 225),
    ("juniper", "Juniper Schools", "US", "Madison", "usd", "visa", 200),
    ("granite", "Granite Peak Outfitters", "US", "Boise", "usd", "mastercard", 175),
    ("meridian", "Meridian Freight", "US", "Houston", "usd", "visa", 160),
    ("pinecrest", "Pinecrest Bakery Group", "US", "Minneapolis", "usd", "mastercard", 120),
    ("atlas", "Atlas Robotics", "US", "Pittsburgh", "usd", "amex", 200),
    ("vantage", "Vantage Health", "US", "Nashville", "usd", "visa", 260),
    ("lakeshore", "Lakeshore Media", "US", "Cleveland", "usd", "discover", 300),
    ("redwood", "Redwood Architects", "US", "Sacramento", "usd", "visa", 230),
    ("summit", "Summit Dental", "US", "Salt Lake City", "usd", "mastercard", 340),
    ("ember", "Ember & Oak Coffee", "US", "Asheville", "usd", "visa", 6),
)
# fmt: on
