"""What every capability stands on: the declarative base, the database engine, ports, access checks, transactions that retry."""
