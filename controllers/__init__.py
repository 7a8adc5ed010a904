"""The rules of a request: parsing, validation, and the answers the contract gives."""
