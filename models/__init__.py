"""Everything that speaks SQL: the schema and the applicants stored in it."""
