"""The dashboard's figures."""
