"""How settings, credentials, logging and database connections come to be."""
