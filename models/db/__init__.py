"""The database layer: the one aiomysql pool, operations within a deadline, the driver's errors."""

from models.db.database import Database
from models.db.operation import IsolationLevel, Operation, Row, Transaction

__all__ = ["Database", "IsolationLevel", "Operation", "Row", "Transaction"]
