"""Django's English formats, with the time zone beside every time shown: staff compare the admin's
times with alert emails and logs, which say theirs in UTC, while TIME_ZONE may be another. Times
keep their seconds: a job or a scheduled task often runs for a few."""

DATETIME_FORMAT = "N j, Y, g:i:s a T"
SHORT_DATETIME_FORMAT = "m/d/Y g:i:s a T"
