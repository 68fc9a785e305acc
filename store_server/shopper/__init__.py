"""The shopper app: the page shoppers scan with, and the server side of joining,
pairing and receipts."""
