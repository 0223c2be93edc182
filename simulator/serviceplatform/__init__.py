"""Serviceplatformen: route table, agreements, and the SOAP pipeline every call walks."""

from simulator.serviceplatform.pipeline import Pipeline, contract_at, wsdl_for
from simulator.serviceplatform.routefiles import (
    AgreementDef,
    MunicipalityDef,
    Problem,
    RouteDef,
    RouteFileError,
    ServiceDef,
    SystemDef,
    read_route_files,
)
from simulator.serviceplatform.routetable import RouteTable, RouteTableError
from simulator.serviceplatform.types import CommittedAnswer, Handler, RowFinisher, SoapCall, SoapRequest, SoapResponse

__all__ = [
    "AgreementDef",
    "CommittedAnswer",
    "Handler",
    "MunicipalityDef",
    "Pipeline",
    "Problem",
    "RouteDef",
    "RouteFileError",
    "RouteTable",
    "RouteTableError",
    "RowFinisher",
    "ServiceDef",
    "SoapCall",
    "SoapRequest",
    "SoapResponse",
    "SystemDef",
    "contract_at",
    "read_route_files",
    "wsdl_for",
]
