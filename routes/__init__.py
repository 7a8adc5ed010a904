"""The route table: which controller answers which method and path."""
