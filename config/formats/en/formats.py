"""Django's English formats, with the time zone beside every time shown: staff compare the admin's
times with alert emails and logs, which say theirs in UTC, while TIME_ZONE may be another."""

DATETIME_FORMAT = "N j, Y, P T"
SHORT_DATETIME_FORMAT = "m/d/Y P T"
