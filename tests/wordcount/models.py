from django.db import models


class Document(models.Model):
    tenant = models.ForeignKey("accounts.Tenant", on_delete=models.CASCADE)
    text = models.TextField()
    # Set while a word_count job is pending or running, cleared when it ends either way.
    counting = models.BooleanField(default=False)
    words = models.PositiveIntegerField(null=True, blank=True)

    def __str__(self):
        return f"document {self.pk}"
