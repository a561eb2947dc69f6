# One way of writing a moment on every page, lists and detail pages alike, with its time zone
# stated: "2026-11-22 09:00 UTC". Django's English default ("Nov. 22, 2026, 9 a.m.") leaves
# the zone out and reads differently from the lists. A Stripe date (an invoice's due date, a
# payout's arrival) is a day: "2026-11-22".
DATETIME_FORMAT = "Y-m-d H:i T"
SHORT_DATETIME_FORMAT = "Y-m-d H:i T"
DATE_FORMAT = "Y-m-d"
SHORT_DATE_FORMAT = "Y-m-d"
TIME_FORMAT = "H:i"
