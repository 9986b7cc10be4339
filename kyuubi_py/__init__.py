"""kyuubi_py: a multi-tenant HiveServer2 gateway for Apache Spark."""

__version__ = "0.1.0"
