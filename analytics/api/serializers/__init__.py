"""Serializers of the analytics JSON API, one module per resource."""
