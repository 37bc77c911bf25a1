"""crm: a terminal CRM for power users."""

__version__ = "0.1.0"
