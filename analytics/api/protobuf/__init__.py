"""The ML endpoint's protobuf messages (`energyleaf_ml`, the old ML service's layout).

The `.proto` source and its generated `*_pb2` modules (with mypy-protobuf `.pyi` stubs) live here;
regenerate them with `python -m analytics.api.protobuf.generate`. `mapping` is the only module
that converts between these messages and plain dataclasses.
"""
