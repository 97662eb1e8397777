"""The minimal buy's two tables: an item with a price and stock, and an order row."""

from django.db import models


class BenchItem(models.Model):
    price_fen = models.IntegerField()
    stock = models.IntegerField()

    def __str__(self) -> str:
        return f"bench item {self.pk}"


class BenchOrder(models.Model):
    item = models.ForeignKey(BenchItem, on_delete=models.CASCADE)
    price_fen = models.IntegerField()
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"bench order {self.pk}"
