"""The Energyleaf protobuf wire protocol.

`.proto` sources and their generated `*_pb2` modules (with mypy-protobuf `.pyi` stubs) live here;
regenerate them with `python -m sensors.protobuf.generate`. `mapping` is the only module that
converts between protobuf messages and plain dataclasses; code outside the API edge never sees
protobuf types.
"""
