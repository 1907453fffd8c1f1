"""The Prometheus remote-write 1.0 messages, built at import from a descriptor in code.

Only what the receiver reads is declared (``WriteRequest.timeseries``, their labels and float
samples); exemplars, native histograms and metadata are unknown fields that protobuf skips.
Building the descriptor here avoids a ``protoc`` step and a generated file to keep in sync;
parsing still runs in protobuf's C extension. Field numbers follow Prometheus' ``types.proto``
and ``remote.proto``.
"""

from __future__ import annotations

from typing import Any

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

_PACKAGE = "forecaster.remote_write"
_F = descriptor_pb2.FieldDescriptorProto


def _file() -> descriptor_pb2.FileDescriptorProto:
    file = descriptor_pb2.FileDescriptorProto(
        name="forecaster/remote_write.proto", package=_PACKAGE, syntax="proto3"
    )

    def message(name: str, *fields: tuple[str, int, int, str | None, bool]) -> None:
        added = file.message_type.add(name=name)
        for field_name, number, kind, type_name, repeated in fields:
            field = added.field.add(
                name=field_name,
                number=number,
                type=kind,
                label=_F.LABEL_REPEATED if repeated else _F.LABEL_OPTIONAL,
            )
            if type_name:
                field.type_name = f".{_PACKAGE}.{type_name}"

    message(
        "Label", ("name", 1, _F.TYPE_STRING, None, False), ("value", 2, _F.TYPE_STRING, None, False)
    )
    message(
        "Sample",
        ("value", 1, _F.TYPE_DOUBLE, None, False),
        ("timestamp", 2, _F.TYPE_INT64, None, False),
    )
    message(
        "TimeSeries",
        ("labels", 1, _F.TYPE_MESSAGE, "Label", True),
        ("samples", 2, _F.TYPE_MESSAGE, "Sample", True),
    )
    message("WriteRequest", ("timeseries", 1, _F.TYPE_MESSAGE, "TimeSeries", True))
    return file


_POOL = descriptor_pool.DescriptorPool()
_POOL.Add(_file())

WriteRequest: Any = message_factory.GetMessageClass(
    _POOL.FindMessageTypeByName(f"{_PACKAGE}.WriteRequest")
)
