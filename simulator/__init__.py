"""KY debtor simulator: a local stand-in for Serviceplatformen, Beskedfordeleren and Klassifikation."""

__version__ = "0.1.0"
